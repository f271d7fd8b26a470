terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.83" # logging_config, user_pool_tier, pre-token V2_0
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4" # the pre-token Lambda's zip
    }
  }

  # Keep state remote and locked for a real deployment, e.g.:
  # backend "s3" {
  #   bucket         = "my-terraform-state"
  #   key            = "hearth/prod.tfstate"
  #   region         = "eu-west-1"
  #   dynamodb_table = "terraform-locks"
  #   encrypt        = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Application = "hearth", Deployment = var.name }
  }
}
