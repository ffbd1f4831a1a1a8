variable "push_role_name" {
  description = "Name of the IAM role that pushes images (protected branches and release tags)."
  type        = string
}

variable "deploy_role_name" {
  description = "Name of the IAM role that deploys to this environment's cluster."
  type        = string
}

variable "create_push_role" {
  description = "Create the push role; false where another environment's role pushes to these repositories."
  type        = bool
  default     = true
}

variable "github_repository" {
  description = "The one repository (owner/name) whose workflows may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be exactly \"owner/name\" (letters, digits, '-', '.', '_'; no wildcards)."
  }
}

variable "branches" {
  description = "Protected branches whose runs may push images, and whose deploy workflow may deploy."
  type        = list(string)

  validation {
    condition     = alltrue([for b in var.branches : can(regex("^[A-Za-z0-9._/-]+$", b))])
    error_message = "branches must be plain branch names such as \"main\" (no wildcards)."
  }
}

variable "environment" {
  description = "The one GitHub environment (give it required reviewers) whose deploy jobs may assume the deploy role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.environment))
    error_message = "environment must be a plain GitHub environment name such as \"prod\" (no wildcards)."
  }
}

variable "deploy_workflow" {
  description = "Path of the only workflow whose jobs may assume the deploy role (pinned through job_workflow_ref)."
  type        = string
  default     = ".github/workflows/deploy.yml"

  validation {
    condition     = can(regex("^[.]github/workflows/[A-Za-z0-9._-]+[.]ya?ml$", var.deploy_workflow))
    error_message = "deploy_workflow must be a workflow file path such as \".github/workflows/deploy.yml\" (no wildcards)."
  }
}

variable "tag_patterns" {
  description = "Release tag patterns (protect them with a tag ruleset) whose runs may push images and whose deploy workflow may deploy: [\"v*.*.*\"] for release.yml's vX.Y.Z tags."
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
  description = "ECR repositories the push role may push to and the deploy role may read."
  type        = list(string)
}

variable "cluster_name" {
  description = "EKS cluster the deploy role deploys to."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of that EKS cluster."
  type        = string
}

variable "deploy_namespace" {
  description = "The only Kubernetes namespace the deploy role may change."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
