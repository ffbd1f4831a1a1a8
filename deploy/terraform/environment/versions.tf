terraform {
  # >= 1.10: S3 native state locking (use_lockfile); validations that compare variables need >= 1.9.
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.95"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.37"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # Partial configuration: `terraform.sh <env> init` passes environments/<env>/backend.hcl.
  backend "s3" {}
}
