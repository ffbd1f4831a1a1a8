variable "role_name" {
  description = "Name of the IAM role GitHub Actions assumes."
  type        = string
}

variable "github_repository" {
  description = "The one repository (owner/name) whose workflows may assume the role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be exactly \"owner/name\" (letters, digits, '-', '.', '_'; no wildcards)."
  }
}

variable "branches" {
  description = "Branches (protect them in GitHub) whose workflow runs may assume the role."
  type        = list(string)

  validation {
    condition     = alltrue([for b in var.branches : can(regex("^[A-Za-z0-9._/-]+$", b))])
    error_message = "branches must be plain branch names such as \"main\" (no wildcards)."
  }
}

variable "environments" {
  description = "GitHub environments (give them protection rules) whose jobs may assume the role."
  type        = list(string)

  validation {
    condition     = alltrue([for e in var.environments : can(regex("^[A-Za-z0-9._-]+$", e))])
    error_message = "environments must be plain GitHub environment names such as \"prod\" (no wildcards)."
  }
}

variable "tag_patterns" {
  description = "Release tag patterns (protect them with a tag ruleset) whose workflow runs may assume the role: [\"v*.*.*\"] for release.yml's vX.Y.Z tags."
  type        = list(string)
  default     = []

  # release.yml runs on tags v[0-9]+.[0-9]+.[0-9]+; IAM's StringLike cannot say "digits", so
  # "v*.*.*" is the narrowest pattern that admits them all. Wider shapes ("v*") are refused.
  validation {
    condition     = alltrue([for t in var.tag_patterns : can(regex("^v([0-9]+|[*])[.]([0-9]+|[*])[.]([0-9]+|[*])$", t))])
    error_message = "tag_patterns must have the release tags' shape vX.Y.Z, each part digits or '*', e.g. \"v*.*.*\" or \"v1.*.*\"."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false uses the one that already exists (one per account)."
  type        = bool
  default     = true
}

variable "ecr_repository_arns" {
  description = "ECR repositories the role may push images to."
  type        = list(string)
}

variable "cluster_name" {
  description = "EKS cluster the role deploys to."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of that EKS cluster."
  type        = string
}

variable "deploy_namespace" {
  description = "The only Kubernetes namespace the role may change."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
