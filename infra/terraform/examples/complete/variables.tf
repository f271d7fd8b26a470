variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix of every resource (lowercase letters, digits and dashes)."
  type        = string
  default     = "hearth"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2-21 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "availability_zones" {
  description = "Two availability zones of the region."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "enable_nat_gateway" {
  description = "Give the Lambdas HTTPS egress through a NAT gateway (needed for the JWKS fetch, see README)."
  type        = bool
  default     = true
}

variable "fhir_lambda_zip" {
  description = "FHIR Lambda artifact, relative to this folder by default."
  type        = string
  default     = "../../../../target/lambda/hearth-lambda/bootstrap.zip"
}

variable "streamer_lambda_zip" {
  description = "Streamer Lambda artifact, relative to this folder by default."
  type        = string
  default     = "../../../../target/lambda/hearth-streamer/bootstrap.zip"
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted domain (unique in the region)."
  type        = string
}

variable "smart_callback_urls" {
  description = "Redirect URIs of the SMART app(s)."
  type        = list(string)
}

variable "smart_logout_urls" {
  description = "Sign-out URLs of the SMART app(s)."
  type        = list(string)
  default     = []
}

variable "create_system_client" {
  description = "Also create a client-credentials client for backend services."
  type        = bool
  default     = false
}

variable "enable_smart_pretoken" {
  description = "Deploy the Cognito pre-token-generation Lambda (SMART scopes from groups, patient / fhirUser claims, tenant in access tokens). Needs cognito_user_pool_tier ESSENTIALS or PLUS."
  type        = bool
  default     = false
}

variable "cognito_user_pool_tier" {
  description = "Cognito feature plan (LITE, ESSENTIALS, PLUS); null leaves it as it is. enable_smart_pretoken needs ESSENTIALS or PLUS."
  type        = string
  default     = null
}

variable "keep_fhir_user_attributes" {
  description = "Keep custom:patientId and custom:practitionerId in the user pool after turning enable_smart_pretoken off (Cognito cannot remove attributes)."
  type        = bool
  default     = false
}

variable "opensearch_master_role_arn" {
  description = "IAM role of the platform team that administers OpenSearch fine-grained access control (maps the Lambda roles, see README)."
  type        = string
}

variable "create_opensearch_service_linked_role" {
  description = "Create the OpenSearch service-linked role (false if the account already has it)."
  type        = bool
  default     = true
}

variable "cors_allow_origins" {
  description = "Browser origins of SMART apps allowed by CORS."
  type        = list(string)
  default     = []
}

variable "custom_domain_name" {
  description = "Optional custom domain of the API."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate for the custom domain."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "Optional hosted zone for the custom domain's alias record."
  type        = string
  default     = null
}

variable "fhir_reserved_concurrency" {
  description = "Reserved concurrency of the FHIR Lambda."
  type        = number
  default     = 50
}

variable "streamer_reserved_concurrency" {
  description = "Reserved concurrency of the streamer Lambda."
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group, in days."
  type        = number
  default     = 365
}

variable "alarm_sns_topic_arns" {
  description = "SNS topics notified by the alarms."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
