variable "repository_names" {
  description = "ECR repositories to create (or, with create = false, to look up)."
  type        = set(string)
}

variable "create" {
  description = "Create the repositories; false looks up repositories created by another environment in the same account."
  type        = bool
  default     = true
}

variable "tagged_images_to_keep" {
  description = "How many tagged images each repository keeps; older ones expire."
  type        = number
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
