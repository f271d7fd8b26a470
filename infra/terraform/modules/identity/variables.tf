variable "name" {
  description = "Name prefix for every resource of this deployment (e.g. hearth-prod)."
  type        = string
}

variable "domain_prefix" {
  description = "Prefix of the Cognito hosted domain (https://<prefix>.auth.<region>.amazoncognito.com), globally unique per region."
  type        = string
}

variable "callback_urls" {
  description = "Redirect URIs of the SMART app(s) for the authorization code flow."
  type        = list(string)
}

variable "logout_urls" {
  description = "Sign-out URLs of the SMART app(s)."
  type        = list(string)
  default     = []
}

variable "mfa_configuration" {
  description = "Cognito MFA setting: OFF, OPTIONAL (users may enrol a TOTP app) or ON."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OFF", "OPTIONAL", "ON"], var.mfa_configuration)
    error_message = "mfa_configuration must be OFF, OPTIONAL or ON."
  }
}

variable "enable_tenant_attribute" {
  description = "Add the custom:tenantId user attribute (multi-tenant deployments). Only administrators can write it."
  type        = bool
  default     = true
}

variable "smart_scopes" {
  description = "SMART scopes as Cognito resource servers: the key is the resource server identifier (the part before the slash), the values the scope names after it. patient = [\"*.read\"] gives the scope patient/*.read."
  type        = map(list(string))
  default = {
    patient = ["*.read", "*.write"]
    user    = ["*.read", "*.write"]
    system  = ["*.read", "*.write"]
    launch  = ["patient"]
  }
}

variable "groups" {
  description = "Cognito groups (the cognito:groups claim Hearth reads for RBAC), name => description."
  type        = map(string)
  default = {
    practitioner       = "Clinicians: read and write clinical resources within their tenant"
    "non-practitioner" = "Staff and patients: access limited by SMART scopes and the patient compartment"
    auditor            = "Read-only access to resources and history for audit"
  }
}

variable "create_system_client" {
  description = "Create a confidential app client for backend services (client credentials flow, system/* scopes)."
  type        = bool
  default     = false
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access and ID tokens, in minutes."
  type        = number
  default     = 60
}

variable "refresh_token_validity_days" {
  description = "Lifetime of refresh tokens, in days."
  type        = number
  default     = 30
}

variable "pre_token_generation_lambda_arn" {
  description = "Your own pre-token-generation trigger (event version V2_0; grant cognito-idp.amazonaws.com lambda:InvokeFunction on it yourself). Leave null with enable_smart_pretoken, which deploys Hearth's."
  type        = string
  default     = null
}

variable "enable_smart_pretoken" {
  description = "Deploy Hearth's pre-token-generation Lambda (V2_0, Python, pretoken/): SMART scopes from groups (smart_group_scopes), patient and fhirUser claims from the patient / practitioner attributes, custom:tenantId in access tokens. Needs user_pool_tier ESSENTIALS or PLUS."
  type        = bool
  default     = false
}

variable "user_pool_tier" {
  description = "Cognito feature plan: LITE, ESSENTIALS or PLUS; null leaves the pool's plan as it is (new pools start on ESSENTIALS). Access-token customisation (enable_smart_pretoken) needs ESSENTIALS or PLUS, billed per monthly active user."
  type        = string
  default     = null

  validation {
    condition     = var.user_pool_tier == null || contains(["LITE", "ESSENTIALS", "PLUS"], coalesce(var.user_pool_tier, "LITE"))
    error_message = "user_pool_tier must be LITE, ESSENTIALS, PLUS or null."
  }
}

variable "smart_group_scopes" {
  description = "SMART scopes the pre-token Lambda adds per Cognito group (PRETOKEN_GROUP_SCOPES), when the app asked for no SMART scope itself. The \"patient\" entry goes to users with a valid patient attribute (group or not); patient/ scopes are never added without one."
  type        = map(list(string))
  default = {
    practitioner = ["user/*.cruds"]
    patient      = ["patient/*.rs"]
  }

  validation {
    condition = alltrue([for scopes in values(var.smart_group_scopes) : alltrue([
      for s in scopes : can(regex("^(patient|user|system)/(\\*|[A-Za-z]+)\\.(read|write|\\*|[cruds]+)(\\?\\S+)?$", s))
    ])])
    error_message = "smart_group_scopes: every value must be a SMART scope such as patient/*.rs, user/Observation.cruds or user/*.read."
  }
}

variable "patient_attribute" {
  description = "User attribute holding the user's Patient id (PRETOKEN_PATIENT_ATTRIBUTE); becomes the patient claim and fhirUser = Patient/<id>. A custom: name is added to the schema."
  type        = string
  default     = "custom:patientId"
}

variable "practitioner_attribute" {
  description = "User attribute holding the user's Practitioner id (PRETOKEN_PRACTITIONER_ATTRIBUTE); becomes fhirUser = Practitioner/<id>. A custom: name is added to the schema."
  type        = string
  default     = "custom:practitionerId"
}

variable "keep_fhir_user_attributes" {
  description = "Keep the patient and practitioner attributes in the schema with enable_smart_pretoken = false. Cognito cannot remove attributes: set it when turning the Lambda off after it was on."
  type        = bool
  default     = false
}

variable "pretoken_reserved_concurrency" {
  description = "Reserved concurrency of the pre-token Lambda (it runs once per token issue or refresh, for a few milliseconds)."
  type        = number
  default     = 10
}

variable "logs_kms_key_arn" {
  description = "Customer-managed key of the pre-token Lambda's log group (used with enable_smart_pretoken)."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the pre-token Lambda's log group, in days."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Protect the user pool against deletion."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
