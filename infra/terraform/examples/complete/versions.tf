terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70" # logging_config, software_update_options, pre-token V2_0
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
