output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "execute-api base URL (disabled when a custom domain is set)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "fhir_base_url" {
  description = "FHIR base URL clients use."
  value       = var.custom_domain_name == null ? "${aws_apigatewayv2_api.this.api_endpoint}${local.base}" : "https://${var.custom_domain_name}${local.base}"
}

output "custom_domain_target" {
  description = "DNS target for the custom domain (CNAME or alias) when route53_zone_id is not given."
  value       = var.custom_domain_name == null ? null : aws_apigatewayv2_domain_name.this[0].domain_name_configuration[0].target_domain_name
}

output "access_log_group_name" {
  description = "CloudWatch log group of the API access logs."
  value       = aws_cloudwatch_log_group.access.name
}
