variable "repository_names" {
  description = "ECR repositories to create (or, with create = false, to look up)."
  type        = set(string)
}

variable "create" {
  description = "Create the repositories; false looks up repositories created by another environment in the same account."
  type        = bool
  default     = true
}

variable "main_builds_to_keep" {
  description = "How many builds of main (sha-<commit> tags) each repository keeps; older ones expire. Release tags never expire."
  type        = number

  validation {
    condition     = var.main_builds_to_keep >= 1 && floor(var.main_builds_to_keep) == var.main_builds_to_keep
    error_message = "main_builds_to_keep must be a whole number of at least 1."
  }
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images (failed or superseded pushes) expire."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
