# Optional pre-token-generation trigger (event version V2_0): SMART scopes from the user's
# groups, the SMART launch claims (patient, fhirUser) from the custom:patientId /
# custom:practitionerId attributes, and custom:tenantId in access tokens. Python 3.12,
# standard library only (pretoken/pretoken.py; its tests are pretoken/test_pretoken.py).
# It needs no network and no AWS API: its role may only write its own log group, and it runs
# outside the VPC.

locals {
  pretoken_function_name = "${var.name}-pretoken"

  pretoken_environment = {
    PRETOKEN_GROUP_SCOPES           = jsonencode(var.smart_group_scopes)
    PRETOKEN_PATIENT_ATTRIBUTE      = var.patient_attribute
    PRETOKEN_PRACTITIONER_ATTRIBUTE = var.practitioner_attribute
    PRETOKEN_TENANT_ATTRIBUTE       = var.enable_tenant_attribute ? "custom:tenantId" : ""
  }
}

data "archive_file" "pretoken" {
  count = var.enable_smart_pretoken ? 1 : 0

  type        = "zip"
  source_file = "${path.module}/pretoken/pretoken.py"
  output_path = "${path.root}/.build/${var.name}-pretoken.zip"
}

resource "aws_cloudwatch_log_group" "pretoken" {
  count = var.enable_smart_pretoken ? 1 : 0

  name              = "/aws/lambda/${local.pretoken_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "pretoken_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "pretoken" {
  count = var.enable_smart_pretoken ? 1 : 0

  name               = "${var.name}-pretoken-lambda"
  assume_role_policy = data.aws_iam_policy_document.pretoken_assume.json
  tags               = var.tags
}

# Least privilege: write its own log group, nothing else.
data "aws_iam_policy_document" "pretoken" {
  count = var.enable_smart_pretoken ? 1 : 0

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.pretoken[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "pretoken" {
  count = var.enable_smart_pretoken ? 1 : 0

  name   = "hearth-pretoken"
  role   = aws_iam_role.pretoken[0].id
  policy = data.aws_iam_policy_document.pretoken[0].json
}

resource "aws_lambda_function" "pretoken" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Cognito during sign-in; a dead-letter queue only receives failed asynchronous invocations, and Cognito refuses the sign-in when the trigger fails.
  #checkov:skip=CKV_AWS_117:Needs no network: it reads the event and returns claims. Outside the VPC it needs no ENI permissions (its role may only write logs) and adds no ENI latency to sign-ins.
  #checkov:skip=CKV_AWS_173:The environment holds no secret (the group-to-scope mapping and attribute names, also in this repository); Lambda encrypts it at rest with its service key, and a customer-managed key would put a KMS call on the sign-in path.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing job over an S3-hosted artifact; this module deploys the zip that archive_file builds from pretoken/pretoken.py. Add code_signing_config_arn when the pipeline signs artifacts.
  count = var.enable_smart_pretoken ? 1 : 0

  function_name    = local.pretoken_function_name
  description      = "Hearth: SMART scopes and launch claims in Cognito tokens (pre token generation V2_0)"
  role             = aws_iam_role.pretoken[0].arn
  runtime          = "python3.12"
  handler          = "pretoken.handler"
  architectures    = ["arm64"]
  filename         = data.archive_file.pretoken[0].output_path
  source_code_hash = data.archive_file.pretoken[0].output_base64sha256
  memory_size      = 128
  timeout          = 5 # Cognito waits at most 5 seconds for a trigger

  reserved_concurrent_executions = var.pretoken_reserved_concurrency

  environment {
    variables = local.pretoken_environment
  }

  tracing_config {
    mode = "PassThrough" # no X-Ray permissions: logs only
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.pretoken[0].name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.pretoken]
}

# Only this user pool may invoke the function.
resource "aws_lambda_permission" "pretoken" {
  count = var.enable_smart_pretoken ? 1 : 0

  statement_id  = "CognitoPreTokenGeneration"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.pretoken[0].function_name
  principal     = "cognito-idp.amazonaws.com"
  source_arn    = aws_cognito_user_pool.this.arn
}
