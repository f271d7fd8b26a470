variable "name" {
  description = "Name prefix for every resource of this deployment (e.g. hearth-prod)."
  type        = string
}

variable "bucket_name" {
  description = "Name of the S3 bucket for binaries, documents and export files. Null: \"<name>-<account id>-data\"."
  type        = string
  default     = null
}

variable "export_prefix" {
  description = "Key prefix of bulk export files in the bucket; objects under it expire after export_expiration_days."
  type        = string
  default     = "exports/"
}

variable "export_expiration_days" {
  description = "Days after which export files are deleted."
  type        = number
  default     = 7
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are removed (S3 versioning is a safety net; FHIR history is kept by Hearth itself)."
  type        = number
  default     = 90
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Protect the DynamoDB table against deletion (turn off only to tear down a test stack)."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled KMS key deletion takes effect."
  type        = number
  default     = 30
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty buckets. Keep false outside throwaway stacks."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
