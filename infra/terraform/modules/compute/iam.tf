# One role per function, each allowed only the actions it uses on the resources it uses.
# The only "*" resources are actions that have no resource type (X-Ray, ENI describe,
# DynamoDB ListStreams).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  ec2_prefix = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fhir" {
  name               = "${var.name}-fhir-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

resource "aws_iam_role" "streamer" {
  name               = "${var.name}-streamer-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

# Statements both functions need: their own log group, X-Ray, and the ENIs in the VPC.
data "aws_iam_policy_document" "common" {
  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions
  }

  statement {
    sid       = "DescribeEnis"
    actions   = ["ec2:DescribeNetworkInterfaces"]
    resources = ["*"] # only works on "*"
  }

  statement {
    sid     = "ManageVpcEnis"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      ["${local.ec2_prefix}:network-interface/*", "${local.ec2_prefix}:security-group/${aws_security_group.lambda.id}"],
      [for s in var.subnet_ids : "${local.ec2_prefix}:subnet/${s}"],
    )
  }

  statement {
    sid = "ReleaseVpcEnis"
    actions = [
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["${local.ec2_prefix}:network-interface/*"]
  }
}

data "aws_iam_policy_document" "fhir" {
  source_policy_documents = [data.aws_iam_policy_document.common.json]

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fhir.arn}:*"]
  }

  statement {
    sid = "ResourceTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DescribeTable",
    ]
    resources = [var.table_arn, "${var.table_arn}/index/*"]
  }

  statement {
    sid       = "BlobObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/*"]
  }

  statement {
    sid       = "BlobListing"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.data_kms_key_arn]
  }

  statement {
    sid       = "SearchQueries"
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]
    resources = ["${var.opensearch_domain_arn}/*"]
  }
}

data "aws_iam_policy_document" "streamer" {
  source_policy_documents = [data.aws_iam_policy_document.common.json]

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.streamer.arn}:*"]
  }

  statement {
    sid = "ReadStream"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
    ]
    resources = [var.table_stream_arn]
  }

  statement {
    sid       = "ListStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"] # ListStreams has no resource type
  }

  statement {
    sid       = "ReadCurrentItems"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "OversizedBodies"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/resources/*"]
  }

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.data_kms_key_arn]
  }

  statement {
    sid       = "FailedBatchesToDlq"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.streamer_dlq.arn]
  }

  statement {
    sid = "IndexWrites"
    actions = [
      "es:ESHttpGet",
      "es:ESHttpHead",
      "es:ESHttpPost",
      "es:ESHttpPut",
      "es:ESHttpDelete",
    ]
    resources = ["${var.opensearch_domain_arn}/*"]
  }
}

resource "aws_iam_role_policy" "fhir" {
  name   = "hearth-fhir"
  role   = aws_iam_role.fhir.id
  policy = data.aws_iam_policy_document.fhir.json
}

resource "aws_iam_role_policy" "streamer" {
  name   = "hearth-streamer"
  role   = aws_iam_role.streamer.id
  policy = data.aws_iam_policy_document.streamer.json
}
