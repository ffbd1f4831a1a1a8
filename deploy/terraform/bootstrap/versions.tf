terraform {
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.95"
    }
  }

  # The bootstrap keeps its own small state locally (it creates the bucket the others use); after
  # the first apply it can be moved into that bucket with `terraform init -migrate-state`.
}
