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
  description = "Optional pre-token-generation trigger (event version V2_0) that copies custom:tenantId into access tokens; Cognito puts custom attributes in ID tokens only."
  type        = string
  default     = null
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
