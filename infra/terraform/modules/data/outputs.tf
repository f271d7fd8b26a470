output "data_kms_key_arn" {
  description = "ARN of the customer-managed key for data at rest."
  value       = aws_kms_key.data.arn
}

output "logs_kms_key_arn" {
  description = "ARN of the customer-managed key for CloudWatch log groups."
  value       = aws_kms_key.logs.arn
}

output "table_name" {
  description = "Name of the DynamoDB resource table (HEARTH_DYNAMODB_TABLE)."
  value       = aws_dynamodb_table.resources.name
}

output "table_arn" {
  description = "ARN of the DynamoDB resource table."
  value       = aws_dynamodb_table.resources.arn
}

output "table_stream_arn" {
  description = "ARN of the table's stream (new and old images)."
  value       = aws_dynamodb_table.resources.stream_arn
}

output "bucket_name" {
  description = "Name of the S3 bucket for binaries, documents and exports (HEARTH_S3_BUCKET)."
  value       = aws_s3_bucket.data.id
}

output "bucket_arn" {
  description = "ARN of the S3 data bucket."
  value       = aws_s3_bucket.data.arn
}

output "access_log_bucket_name" {
  description = "Name of the bucket holding the data bucket's S3 server access logs."
  value       = aws_s3_bucket.access_logs.id
}
