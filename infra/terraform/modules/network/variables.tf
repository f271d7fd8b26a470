variable "name" {
  description = "Name prefix for every resource of this deployment (e.g. hearth-prod)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones for the private (and public, when NAT is on) subnets. Two or more."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones: OpenSearch zone awareness and Lambda HA need them."
  }
}

variable "enable_nat_gateway" {
  description = "Create public subnets, an internet gateway and one NAT gateway so the Lambdas can reach the internet over HTTPS (the Cognito JWKS document). Without it the Lambdas only reach the VPC endpoints."
  type        = bool
  default     = true
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface VPC endpoints (private DNS). DynamoDB and S3 always get gateway endpoints."
  type        = list(string)
  default     = ["kms", "logs", "xray"]
}

variable "flow_log_kms_key_arn" {
  description = "KMS key that encrypts the VPC flow log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
