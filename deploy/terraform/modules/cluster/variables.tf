variable "name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes <major>.<minor> version of the control plane and nodes."
  type        = string
}

variable "vpc_id" {
  description = "VPC the cluster runs in."
  type        = string
}

variable "node_subnet_ids" {
  description = "Private subnets for the managed node group."
  type        = list(string)
}

variable "control_plane_subnet_ids" {
  description = "Subnets for the control-plane network interfaces."
  type        = list(string)
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; an empty list turns the public endpoint off."
  type        = list(string)
}

variable "admin_principal_arns" {
  description = "IAM roles/users given cluster-admin through EKS access entries, keyed by ARN; not the identity running Terraform, which is admin already."
  type        = list(string)
  default     = []

  validation {
    condition     = length(distinct(var.admin_principal_arns)) == length(var.admin_principal_arns)
    error_message = "admin_principal_arns lists an ARN twice: list each IAM role or user once."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group, in order of preference."
  type        = list(string)
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT."
  type        = string
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Initial number of nodes (later changes are left to an autoscaler)."
  type        = number
}

variable "node_disk_size_gib" {
  description = "Root volume size of each node in GiB (encrypted gp3)."
  type        = number
}

variable "log_retention_days" {
  description = "Days to keep control-plane logs in CloudWatch."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
