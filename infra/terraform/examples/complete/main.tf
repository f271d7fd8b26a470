# A complete Hearth deployment: network -> data -> search -> compute -> api, with identity
# feeding the API's JWT authorizer and the Lambda's token settings.

module "data" {
  source = "../../modules/data"

  name = var.name
  tags = var.tags
}

module "network" {
  source = "../../modules/network"

  name                 = var.name
  availability_zones   = var.availability_zones
  enable_nat_gateway   = var.enable_nat_gateway
  flow_log_kms_key_arn = module.data.logs_kms_key_arn
  log_retention_days   = var.log_retention_days
  tags                 = var.tags
}

module "identity" {
  source = "../../modules/identity"

  name                 = var.name
  domain_prefix        = var.cognito_domain_prefix
  callback_urls        = var.smart_callback_urls
  logout_urls          = var.smart_logout_urls
  create_system_client = var.create_system_client
  tags                 = var.tags

  # Optional pre-token-generation Lambda: SMART scopes, patient / fhirUser claims and the
  # tenant in access tokens (see README, "What a SMART app gets").
  enable_smart_pretoken     = var.enable_smart_pretoken
  user_pool_tier            = var.cognito_user_pool_tier
  keep_fhir_user_attributes = var.keep_fhir_user_attributes
  logs_kms_key_arn          = module.data.logs_kms_key_arn
  log_retention_days        = var.log_retention_days
}

module "search" {
  source = "../../modules/search"

  name                       = var.name
  subnet_ids                 = module.network.private_subnet_ids
  vpc_id                     = module.network.vpc_id
  client_security_group_ids  = [module.compute.security_group_id]
  kms_key_arn                = module.data.data_kms_key_arn
  logs_kms_key_arn           = module.data.logs_kms_key_arn
  log_retention_days         = var.log_retention_days
  master_user_arn            = var.opensearch_master_role_arn
  client_role_arns           = [module.compute.fhir_role_arn, module.compute.streamer_role_arn]
  create_service_linked_role = var.create_opensearch_service_linked_role
  tags                       = var.tags
}

module "compute" {
  source = "../../modules/compute"

  name                = var.name
  fhir_lambda_zip     = abspath("${path.module}/${var.fhir_lambda_zip}")
  streamer_lambda_zip = abspath("${path.module}/${var.streamer_lambda_zip}")

  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  endpoints_security_group_id = module.network.endpoints_security_group_id
  gateway_prefix_list_ids     = module.network.gateway_prefix_list_ids
  internet_egress             = module.network.internet_egress
  search_security_group_id    = module.search.security_group_id

  table_name       = module.data.table_name
  table_arn        = module.data.table_arn
  table_stream_arn = module.data.table_stream_arn
  bucket_name      = module.data.bucket_name
  bucket_arn       = module.data.bucket_arn
  data_kms_key_arn = module.data.data_kms_key_arn
  logs_kms_key_arn = module.data.logs_kms_key_arn

  opensearch_url        = module.search.endpoint_url
  opensearch_domain_arn = module.search.domain_arn

  jwt_issuer   = module.identity.issuer
  jwks_url     = module.identity.jwks_url
  jwt_audience = module.identity.client_ids

  fhir_reserved_concurrency     = var.fhir_reserved_concurrency
  streamer_reserved_concurrency = var.streamer_reserved_concurrency
  log_retention_days            = var.log_retention_days
  dlq_alarm_actions             = var.alarm_sns_topic_arns
  tags                          = var.tags
}

module "api" {
  source = "../../modules/api"

  name                 = var.name
  lambda_function_name = module.compute.fhir_function_name
  lambda_invoke_arn    = module.compute.fhir_invoke_arn
  jwt_issuer           = module.identity.issuer
  jwt_audience         = module.identity.client_ids
  cors_allow_origins   = var.cors_allow_origins
  logs_kms_key_arn     = module.data.logs_kms_key_arn
  log_retention_days   = var.log_retention_days
  custom_domain_name   = var.custom_domain_name
  certificate_arn      = var.certificate_arn
  route53_zone_id      = var.route53_zone_id
  tags                 = var.tags
}
