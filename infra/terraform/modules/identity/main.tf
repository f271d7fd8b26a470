# Who the callers are: a Cognito user pool, the three RBAC groups, the SMART scopes as
# resource-server scopes, and an app client for SMART apps (authorization code + PKCE).
#
# Cognito names a custom scope "<resource server identifier>/<scope name>", so the resource
# servers are named after the SMART scope prefixes ("patient", "user", "system", "launch"):
# resource server "patient" with scope "*.read" is the SMART scope "patient/*.read".

data "aws_region" "current" {}

locals {
  user_attributes_writable = ["email", "name", "given_name", "family_name"]
  user_attributes_readable = concat(
    local.user_attributes_writable,
    ["email_verified"],
    var.enable_tenant_attribute ? ["custom:tenantId"] : [],
    local.fhir_user_attributes ? [var.patient_attribute, var.practitioner_attribute] : [],
  )
  app_scopes = concat(
    ["openid", "profile", "email"],
    flatten([for id, rs in aws_cognito_resource_server.smart : tolist(rs.scope_identifiers) if id != "system"]),
  )
  system_scopes = contains(keys(var.smart_scopes), "system") ? tolist(aws_cognito_resource_server.smart["system"].scope_identifiers) : []

  # custom:patientId / custom:practitionerId: in the schema while the pre-token Lambda is on,
  # and afterwards with keep_fhir_user_attributes (Cognito cannot remove attributes).
  fhir_user_attributes = var.enable_smart_pretoken || var.keep_fhir_user_attributes
  fhir_user_schema = local.fhir_user_attributes ? [
    for a in [var.patient_attribute, var.practitioner_attribute] : trimprefix(a, "custom:") if startswith(a, "custom:")
  ] : []

  pre_token_lambda_arn = var.enable_smart_pretoken ? aws_lambda_function.pretoken[0].arn : var.pre_token_generation_lambda_arn
}

resource "aws_cognito_user_pool" "this" {
  name                = var.name
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = var.mfa_configuration

  username_configuration {
    case_sensitive = false
  }

  dynamic "software_token_mfa_configuration" {
    for_each = var.mfa_configuration == "OFF" ? [] : [1]
    content {
      enabled = true
    }
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 7
  }

  # Accounts are created by administrators (see README), never by self sign-up.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  dynamic "schema" {
    for_each = var.enable_tenant_attribute ? [1] : []
    content {
      name                     = "tenantId"
      attribute_data_type      = "String"
      mutable                  = true
      developer_only_attribute = false
      required                 = false
      string_attribute_constraints {
        min_length = 1
        max_length = 64
      }
    }
  }

  # FHIR ids of the user (the pre-token Lambda makes them the patient / fhirUser claims).
  # Like custom:tenantId, only administrators may write them (write_attributes below).
  dynamic "schema" {
    for_each = toset(local.fhir_user_schema)
    content {
      name                     = schema.value
      attribute_data_type      = "String"
      mutable                  = true
      developer_only_attribute = false
      required                 = false
      string_attribute_constraints {
        min_length = 1
        max_length = 64
      }
    }
  }

  # Access-token customisation (event V2_0) needs the Essentials or Plus feature plan.
  user_pool_tier = var.user_pool_tier

  dynamic "lambda_config" {
    for_each = var.enable_smart_pretoken || var.pre_token_generation_lambda_arn != null ? [1] : []
    content {
      pre_token_generation_config {
        lambda_arn     = local.pre_token_lambda_arn
        lambda_version = "V2_0"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !var.enable_smart_pretoken || contains(["ESSENTIALS", "PLUS"], coalesce(var.user_pool_tier, "unset"))
      error_message = "enable_smart_pretoken (a V2_0 pre-token-generation trigger) needs user_pool_tier = \"ESSENTIALS\" or \"PLUS\" (the Lite plan cannot customise access tokens)."
    }
    precondition {
      condition     = !var.enable_smart_pretoken || var.pre_token_generation_lambda_arn == null
      error_message = "Set either enable_smart_pretoken or pre_token_generation_lambda_arn, not both: a user pool has one pre-token-generation trigger."
    }
  }

  tags = var.tags
}

resource "aws_cognito_user_pool_domain" "this" {
  domain       = var.domain_prefix
  user_pool_id = aws_cognito_user_pool.this.id
}

resource "aws_cognito_user_group" "this" {
  for_each = var.groups

  name         = each.key
  description  = each.value
  user_pool_id = aws_cognito_user_pool.this.id
}

resource "aws_cognito_resource_server" "smart" {
  for_each = var.smart_scopes

  identifier   = each.key
  name         = "SMART ${each.key} scopes"
  user_pool_id = aws_cognito_user_pool.this.id

  dynamic "scope" {
    for_each = toset(each.value)
    content {
      scope_name        = scope.value
      scope_description = "SMART on FHIR scope ${each.key}/${scope.value}"
    }
  }
}

# Public client for SMART apps: authorization code flow; Cognito requires PKCE-capable
# clients to be public (no secret) and honours code_challenge when the app sends it.
resource "aws_cognito_user_pool_client" "smart_app" {
  name         = "${var.name}-smart-app"
  user_pool_id = aws_cognito_user_pool.this.id

  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = local.app_scopes
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.callback_urls
  logout_urls                          = var.logout_urls

  explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true

  # custom:tenantId is readable but never writable by the user: only an administrator
  # (AdminUpdateUserAttributes) may move someone to another tenant.
  read_attributes  = local.user_attributes_readable
  write_attributes = local.user_attributes_writable

  access_token_validity  = var.access_token_validity_minutes
  id_token_validity      = var.access_token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_days
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

# Optional confidential client for backend services (SMART backend services / system scopes).
resource "aws_cognito_user_pool_client" "system" {
  count = var.create_system_client ? 1 : 0

  name         = "${var.name}-system"
  user_pool_id = aws_cognito_user_pool.this.id

  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["client_credentials"]
  allowed_oauth_scopes                 = local.system_scopes
  supported_identity_providers         = ["COGNITO"]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true

  access_token_validity = var.access_token_validity_minutes
  token_validity_units {
    access_token = "minutes"
  }
}
