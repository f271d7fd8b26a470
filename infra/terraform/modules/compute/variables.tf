variable "name" {
  description = "Name prefix for every resource of this deployment (e.g. hearth-prod)."
  type        = string
}

# --- artifacts ---------------------------------------------------------------------

variable "fhir_lambda_zip" {
  description = "Path of the FHIR Lambda artifact built by `cargo lambda build --release --arm64 --output-format zip`."
  type        = string
}

variable "streamer_lambda_zip" {
  description = "Path of the streamer Lambda artifact built by the same command."
  type        = string
}

# --- sizing ------------------------------------------------------------------------

variable "fhir_memory_mb" {
  description = "Memory of the FHIR Lambda (CPU scales with it)."
  type        = number
  default     = 1024
}

variable "fhir_timeout_seconds" {
  description = "Timeout of the FHIR Lambda; API Gateway gives up after 30 s anyway."
  type        = number
  default     = 29
}

variable "fhir_reserved_concurrency" {
  description = "Reserved concurrency of the FHIR Lambda: a ceiling that protects DynamoDB, OpenSearch and the rest of the account."
  type        = number
  default     = 50
}

variable "streamer_memory_mb" {
  description = "Memory of the streamer Lambda."
  type        = number
  default     = 512
}

variable "streamer_timeout_seconds" {
  description = "Timeout of the streamer Lambda (one batch)."
  type        = number
  default     = 60
}

variable "streamer_reserved_concurrency" {
  description = "Reserved concurrency of the streamer Lambda (at least the number of stream shards x parallelization factor)."
  type        = number
  default     = 10
}

# --- stream processing -------------------------------------------------------------

variable "stream_batch_size" {
  description = "Stream records per streamer invocation."
  type        = number
  default     = 100
}

variable "stream_batching_window_seconds" {
  description = "How long to gather records before invoking the streamer (0 = as soon as possible)."
  type        = number
  default     = 1
}

variable "stream_max_retry_attempts" {
  description = "Retries of a failing batch (halved by bisect-on-error) before its records go to the DLQ."
  type        = number
  default     = 5
}

variable "stream_max_record_age_seconds" {
  description = "Records older than this are sent to the DLQ instead of being retried (-1 = until they expire from the stream)."
  type        = number
  default     = 86400
}

variable "stream_parallelization_factor" {
  description = "Concurrent batches per shard (order is kept per partition key, i.e. per resource)."
  type        = number
  default     = 1
}

variable "stream_filter_patterns" {
  description = "Optional Lambda event filter patterns (JSON strings) for the stream, e.g. to pass only the \"current\" items."
  type        = list(string)
  default     = []
}

# --- wiring ------------------------------------------------------------------------

variable "subnet_ids" {
  description = "Private subnets for the Lambdas."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the Lambdas."
  type        = string
}

variable "endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints."
  type        = string
}

variable "gateway_prefix_list_ids" {
  description = "Prefix lists of the DynamoDB and S3 gateway endpoints."
  type        = list(string)
}

variable "search_security_group_id" {
  description = "Security group of the OpenSearch domain."
  type        = string
}

variable "internet_egress" {
  description = "Allow HTTPS egress to the internet (only useful when the VPC has a NAT gateway)."
  type        = bool
  default     = true
}

variable "table_name" {
  description = "DynamoDB resource table name."
  type        = string
}

variable "table_arn" {
  description = "DynamoDB resource table ARN."
  type        = string
}

variable "table_stream_arn" {
  description = "ARN of the table's stream."
  type        = string
}

variable "bucket_name" {
  description = "S3 data bucket name."
  type        = string
}

variable "bucket_arn" {
  description = "S3 data bucket ARN."
  type        = string
}

variable "data_kms_key_arn" {
  description = "Customer-managed key of the data (table, bucket, DLQ, Lambda environment)."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "Customer-managed key of the Lambda log groups."
  type        = string
}

variable "opensearch_url" {
  description = "HTTPS URL of the OpenSearch domain."
  type        = string
}

variable "opensearch_domain_arn" {
  description = "ARN of the OpenSearch domain."
  type        = string
}

# --- application settings ----------------------------------------------------------

variable "base_path" {
  description = "FHIR base path (HEARTH_BASE_PATH); must match the API routes."
  type        = string
  default     = "/fhir"
}

variable "jwt_issuer" {
  description = "Token issuer (HEARTH_JWT_ISSUER)."
  type        = string
}

variable "jwks_url" {
  description = "Signing keys URL (HEARTH_JWKS_URL)."
  type        = string
}

variable "jwt_audience" {
  description = "Accepted client IDs (HEARTH_JWT_AUDIENCE, comma-separated)."
  type        = list(string)
}

variable "groups_claim" {
  description = "Claim holding the caller's groups (HEARTH_GROUPS_CLAIM)."
  type        = string
  default     = "cognito:groups"
}

variable "tenant_claim" {
  description = "Claim holding the caller's tenant (HEARTH_TENANT_CLAIM)."
  type        = string
  default     = "custom:tenantId"
}

variable "presign_above_bytes" {
  description = "Binaries larger than this are served as a redirect to a presigned S3 URL (HEARTH_PRESIGN_ABOVE_BYTES); API Gateway and Lambda cap responses at about 6 MB."
  type        = number
  default     = 4194304
}

variable "log_level" {
  description = "Log filter of both Lambdas (HEARTH_LOG, tracing syntax)."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Retention of the Lambda log groups, in days."
  type        = number
  default     = 365
}

variable "dlq_alarm_actions" {
  description = "SNS topic ARNs notified when stream records land in the DLQ."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
