output "domain_arn" {
  description = "ARN of the OpenSearch domain."
  value       = aws_opensearch_domain.this.arn
}

output "domain_name" {
  description = "Name of the OpenSearch domain."
  value       = aws_opensearch_domain.this.domain_name
}

output "endpoint_url" {
  description = "HTTPS URL of the domain's VPC endpoint (HEARTH_OPENSEARCH_URL)."
  value       = "https://${aws_opensearch_domain.this.endpoint}"
}

output "dashboards_url" {
  description = "OpenSearch Dashboards URL (reachable from inside the VPC only)."
  value       = "https://${aws_opensearch_domain.this.dashboard_endpoint}"
}

output "security_group_id" {
  description = "Security group of the domain."
  value       = aws_security_group.search.id
}
