# Versions are constrained once, by the root that calls this module (environment/versions.tf).
terraform {
  required_providers {
    aws    = { source = "hashicorp/aws" }
    helm   = { source = "hashicorp/helm" }
    random = { source = "hashicorp/random" }
  }
}
