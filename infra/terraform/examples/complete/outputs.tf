output "fhir_base_url" {
  description = "FHIR base URL."
  value       = module.api.fhir_base_url
}

output "oauth_base_url" {
  description = "Cognito hosted OAuth endpoints (/oauth2/authorize, /oauth2/token)."
  value       = module.identity.oauth_base_url
}

output "user_pool_id" {
  description = "Cognito user pool ID (for creating users, see README)."
  value       = module.identity.user_pool_id
}

output "smart_app_client_id" {
  description = "Client ID for SMART apps (authorization code + PKCE)."
  value       = module.identity.app_client_id
}

output "system_client_id" {
  description = "Client ID for backend services (null unless create_system_client)."
  value       = module.identity.system_client_id
}

output "smart_scopes" {
  description = "SMART scopes the pool issues."
  value       = module.identity.scopes
}

output "pretoken_function_name" {
  description = "Pre-token-generation Lambda (null unless enable_smart_pretoken)."
  value       = module.identity.pretoken_function_name
}

output "table_name" {
  description = "DynamoDB resource table."
  value       = module.data.table_name
}

output "bucket_name" {
  description = "S3 data bucket."
  value       = module.data.bucket_name
}

output "opensearch_url" {
  description = "OpenSearch endpoint (inside the VPC)."
  value       = module.search.endpoint_url
}

output "fhir_lambda_role_arn" {
  description = "FHIR Lambda role, to map to an OpenSearch role."
  value       = module.compute.fhir_role_arn
}

output "streamer_lambda_role_arn" {
  description = "Streamer Lambda role, to map to an OpenSearch role."
  value       = module.compute.streamer_role_arn
}

output "streamer_dlq_url" {
  description = "Queue of stream batches that failed indexing."
  value       = module.compute.streamer_dlq_url
}

output "nat_public_ip" {
  description = "Egress IP of the Lambdas (null without NAT)."
  value       = module.network.nat_public_ip
}

output "custom_domain_target" {
  description = "DNS target of the custom domain, if any."
  value       = module.api.custom_domain_target
}
