output "fhir_function_name" {
  description = "Name of the FHIR Lambda."
  value       = aws_lambda_function.fhir.function_name
}

output "fhir_function_arn" {
  description = "ARN of the FHIR Lambda."
  value       = aws_lambda_function.fhir.arn
}

output "fhir_invoke_arn" {
  description = "Invoke ARN of the FHIR Lambda, for the API integration."
  value       = aws_lambda_function.fhir.invoke_arn
}

output "fhir_role_arn" {
  description = "Execution role of the FHIR Lambda (map it to an OpenSearch role, see README)."
  value       = aws_iam_role.fhir.arn
}

output "streamer_function_name" {
  description = "Name of the streamer Lambda."
  value       = aws_lambda_function.streamer.function_name
}

output "streamer_role_arn" {
  description = "Execution role of the streamer Lambda (map it to an OpenSearch role, see README)."
  value       = aws_iam_role.streamer.arn
}

output "streamer_dlq_url" {
  description = "URL of the SQS queue holding stream batches that failed indexing."
  value       = aws_sqs_queue.streamer_dlq.url
}

output "security_group_id" {
  description = "Security group of the Lambdas."
  value       = aws_security_group.lambda.id
}
