variable "name" {
  description = "Name prefix for every resource of this deployment (e.g. hearth-prod)."
  type        = string
}

variable "lambda_function_name" {
  description = "Name of the FHIR Lambda (for the invoke permission)."
  type        = string
}

variable "lambda_invoke_arn" {
  description = "Invoke ARN of the FHIR Lambda."
  type        = string
}

variable "base_path" {
  description = "FHIR base path; must equal HEARTH_BASE_PATH."
  type        = string
  default     = "/fhir"
}

variable "jwt_issuer" {
  description = "Issuer the JWT authorizer accepts (the Cognito user pool's issuer URL)."
  type        = string
}

variable "jwt_audience" {
  description = "Client IDs the JWT authorizer accepts (aud, or client_id for Cognito access tokens)."
  type        = list(string)
}

variable "public_discovery_routes" {
  description = "Serve GET <base>/metadata and GET <base>/.well-known/smart-configuration without a token, as FHIR and SMART App Launch require."
  type        = bool
  default     = true
}

variable "cors_allow_origins" {
  description = "Origins allowed by CORS (browser SMART apps). Empty: no CORS configuration."
  type        = list(string)
  default     = []
}

variable "cors_allow_headers" {
  description = "Request headers allowed by CORS."
  type        = list(string)
  default     = ["authorization", "content-type", "if-match", "if-none-match", "if-modified-since", "prefer", "x-request-id"]
}

variable "cors_allow_methods" {
  description = "Methods allowed by CORS."
  type        = list(string)
  default     = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
}

variable "cors_expose_headers" {
  description = "Response headers exposed to browser code."
  type        = list(string)
  default     = ["etag", "location", "last-modified", "content-location", "x-request-id"]
}

variable "cors_max_age_seconds" {
  description = "How long browsers may cache a preflight answer."
  type        = number
  default     = 600
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second across the API."
  type        = number
  default     = 100
}

variable "throttling_burst_limit" {
  description = "Burst of requests allowed above the steady rate."
  type        = number
  default     = 200
}

variable "logs_kms_key_arn" {
  description = "Customer-managed key of the access log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the access log group, in days."
  type        = number
  default     = 365
}

variable "custom_domain_name" {
  description = "Optional custom domain (e.g. fhir.example.org). Null: use the execute-api URL."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate (same region) for the custom domain."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "Optional Route 53 hosted zone in which to create the custom domain's alias record."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
