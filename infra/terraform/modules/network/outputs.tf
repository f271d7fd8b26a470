output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (one per AZ), for the Lambdas and OpenSearch."
  value       = aws_subnet.private[*].id
}

output "endpoints_security_group_id" {
  description = "Security group of the interface endpoints (the Lambdas need HTTPS egress to it)."
  value       = aws_security_group.endpoints.id
}

output "gateway_prefix_list_ids" {
  description = "Prefix lists of the DynamoDB and S3 gateway endpoints (the Lambdas need HTTPS egress to them)."
  value       = [aws_vpc_endpoint.dynamodb.prefix_list_id, aws_vpc_endpoint.s3.prefix_list_id]
}

output "internet_egress" {
  description = "Whether a NAT gateway gives the private subnets internet egress."
  value       = var.enable_nat_gateway
}

output "nat_public_ip" {
  description = "Public IP of the NAT gateway (null without NAT): the source address of the Lambdas' internet traffic."
  value       = var.enable_nat_gateway ? aws_eip.nat[0].public_ip : null
}
