# The two functions: the FHIR API (lambda_http behind API Gateway) and the streamer that
# keeps OpenSearch in step with the DynamoDB stream. Both are Rust binaries named
# "bootstrap" on the provided.al2023 runtime, arm64, in the private subnets.

locals {
  fhir_function_name     = "${var.name}-fhir"
  streamer_function_name = "${var.name}-streamer"

  fhir_environment = {
    HEARTH_BACKEND             = "aws"
    HEARTH_BASE_PATH           = var.base_path
    HEARTH_DYNAMODB_TABLE      = var.table_name
    HEARTH_S3_BUCKET           = var.bucket_name
    HEARTH_S3_KMS_KEY_ID       = var.data_kms_key_arn
    HEARTH_OPENSEARCH_URL      = var.opensearch_url
    HEARTH_OPENSEARCH_SIGV4    = "1"
    HEARTH_AUTH                = "jwt"
    HEARTH_JWT_ISSUER          = var.jwt_issuer
    HEARTH_JWKS_URL            = var.jwks_url
    HEARTH_JWT_AUDIENCE        = join(",", var.jwt_audience)
    HEARTH_GROUPS_CLAIM        = var.groups_claim
    HEARTH_TENANT_CLAIM        = var.tenant_claim
    HEARTH_PRESIGN_ABOVE_BYTES = tostring(var.presign_above_bytes)
    HEARTH_LOG                 = var.log_level
  }

  streamer_environment = {
    HEARTH_BACKEND          = "aws"
    HEARTH_OPENSEARCH_URL   = var.opensearch_url
    HEARTH_OPENSEARCH_SIGV4 = "1"
    HEARTH_DYNAMODB_TABLE   = var.table_name
    HEARTH_S3_BUCKET        = var.bucket_name
    HEARTH_LOG              = var.log_level
  }
}

resource "aws_cloudwatch_log_group" "fhir" {
  name              = "/aws/lambda/${local.fhir_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "streamer" {
  name              = "/aws/lambda/${local.streamer_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "fhir" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway; a dead-letter queue only receives failed asynchronous invocations, and the caller gets the error response.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing job over an S3-hosted artifact; this module deploys the locally built zip. Add code_signing_config_arn when the pipeline signs artifacts.
  function_name    = local.fhir_function_name
  description      = "Hearth FHIR R4 API"
  role             = aws_iam_role.fhir.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  filename         = var.fhir_lambda_zip
  source_code_hash = filebase64sha256(var.fhir_lambda_zip)
  memory_size      = var.fhir_memory_mb
  timeout          = var.fhir_timeout_seconds
  kms_key_arn      = var.data_kms_key_arn

  reserved_concurrent_executions = var.fhir_reserved_concurrency

  environment {
    variables = local.fhir_environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text" # Hearth writes JSON lines itself
    log_group  = aws_cloudwatch_log_group.fhir.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.fhir]
}

resource "aws_lambda_function" "streamer" {
  #checkov:skip=CKV_AWS_116:Invoked by an event source mapping, never asynchronously; failed stream batches go to the mapping's on-failure destination (the SQS DLQ below).
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing job over an S3-hosted artifact; this module deploys the locally built zip. Add code_signing_config_arn when the pipeline signs artifacts.
  function_name    = local.streamer_function_name
  description      = "Hearth DynamoDB stream to OpenSearch indexer"
  role             = aws_iam_role.streamer.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  filename         = var.streamer_lambda_zip
  source_code_hash = filebase64sha256(var.streamer_lambda_zip)
  memory_size      = var.streamer_memory_mb
  timeout          = var.streamer_timeout_seconds
  kms_key_arn      = var.data_kms_key_arn

  reserved_concurrent_executions = var.streamer_reserved_concurrency

  environment {
    variables = local.streamer_environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.streamer.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.streamer]
}

# --- the stream -> streamer wiring ----------------------------------------------------

resource "aws_sqs_queue" "streamer_dlq" {
  name                              = "${var.name}-streamer-dlq"
  message_retention_seconds         = 1209600 # 14 days, the maximum
  kms_master_key_id                 = var.data_kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_lambda_event_source_mapping" "stream" {
  function_name                      = aws_lambda_function.streamer.arn
  event_source_arn                   = var.table_stream_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.stream_batch_size
  maximum_batching_window_in_seconds = var.stream_batching_window_seconds
  maximum_retry_attempts             = var.stream_max_retry_attempts
  maximum_record_age_in_seconds      = var.stream_max_record_age_seconds
  parallelization_factor             = var.stream_parallelization_factor
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.streamer_dlq.arn
    }
  }

  dynamic "filter_criteria" {
    for_each = length(var.stream_filter_patterns) > 0 ? [1] : []
    content {
      dynamic "filter" {
        for_each = var.stream_filter_patterns
        content {
          pattern = filter.value
        }
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "streamer_dlq" {
  alarm_name          = "${var.name}-streamer-dlq-not-empty"
  alarm_description   = "Stream records failed indexing and are waiting in the DLQ: the search index is behind the store."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.streamer_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.dlq_alarm_actions
  tags                = var.tags
}
