terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.83" # user_pool_tier (feature plans), pre-token V2_0
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4" # packages the pre-token Lambda
    }
  }
}
