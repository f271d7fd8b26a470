variable "name" {
  description = "Name prefix for every resource of this deployment (e.g. hearth-prod)."
  type        = string
}

variable "domain_name" {
  description = "OpenSearch domain name (3-28 lowercase characters). Null: \"<name>-fhir\" cut to 28 characters."
  type        = string
  default     = null
}

variable "engine_version" {
  description = "OpenSearch engine version (2.x)."
  type        = string
  default     = "OpenSearch_2.17"

  validation {
    condition     = startswith(var.engine_version, "OpenSearch_2.")
    error_message = "Hearth targets OpenSearch 2.x."
  }
}

variable "instance_type" {
  description = "Data node instance type."
  type        = string
  default     = "r6g.large.search"
}

variable "instance_count" {
  description = "Number of data nodes: a multiple of the number of subnets (one AZ per subnet)."
  type        = number
  default     = 2
}

variable "dedicated_master_type" {
  description = "Instance type of the three dedicated master nodes."
  type        = string
  default     = "m6g.large.search"
}

variable "volume_size_gb" {
  description = "gp3 EBS volume size per data node, in GiB."
  type        = number
  default     = 50
}

variable "subnet_ids" {
  description = "Private subnets for the domain, one per availability zone (2 or 3)."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the domain."
  type        = string
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach the domain over HTTPS (the Lambdas')."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Customer-managed key for encryption at rest."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "Customer-managed key for the domain's CloudWatch log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the domain's log groups, in days."
  type        = number
  default     = 365
}

variable "master_user_arn" {
  description = "IAM role or user that becomes the fine-grained access control master user (maps the Lambda roles to OpenSearch roles, see README)."
  type        = string
}

variable "client_role_arns" {
  description = "IAM roles allowed through the domain access policy (the Hearth Lambda roles). Fine-grained access control then decides what each may do."
  type        = list(string)
}

variable "create_service_linked_role" {
  description = "Create the OpenSearch service-linked role (needed once per account for VPC domains; set false if the account already has it)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
