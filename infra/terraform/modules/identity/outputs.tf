output "user_pool_id" {
  description = "ID of the Cognito user pool."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the Cognito user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "issuer" {
  description = "Token issuer (HEARTH_JWT_ISSUER and the API's JWT authorizer issuer)."
  value       = "https://${aws_cognito_user_pool.this.endpoint}"
}

output "jwks_url" {
  description = "URL of the pool's signing keys (HEARTH_JWKS_URL)."
  value       = "https://${aws_cognito_user_pool.this.endpoint}/.well-known/jwks.json"
}

output "app_client_id" {
  description = "Client ID of the SMART app client."
  value       = aws_cognito_user_pool_client.smart_app.id
}

output "system_client_id" {
  description = "Client ID of the backend-services client (null unless create_system_client)."
  value       = var.create_system_client ? aws_cognito_user_pool_client.system[0].id : null
}

output "client_ids" {
  description = "Every client ID whose tokens the API accepts (the JWT audience)."
  value       = concat([aws_cognito_user_pool_client.smart_app.id], aws_cognito_user_pool_client.system[*].id)
}

output "oauth_base_url" {
  description = "Base URL of the hosted OAuth endpoints (/oauth2/authorize, /oauth2/token)."
  value       = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${data.aws_region.current.name}.amazoncognito.com"
}

output "groups" {
  description = "Names of the RBAC groups."
  value       = [for g in aws_cognito_user_group.this : g.name]
}

output "scopes" {
  description = "Every SMART scope the pool defines."
  value       = flatten([for rs in aws_cognito_resource_server.smart : tolist(rs.scope_identifiers)])
}

output "pretoken_function_name" {
  description = "Name of the pre-token-generation Lambda (null unless enable_smart_pretoken)."
  value       = var.enable_smart_pretoken ? aws_lambda_function.pretoken[0].function_name : null
}
