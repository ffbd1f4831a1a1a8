variable "name" {
  description = "Name of the VPC and prefix of its resources, e.g. crypto-rates-dev."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster that will use this VPC; subnets are tagged for its load balancer discovery."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /18); split into private, public and intra subnets across three AZs."
  type        = string
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheap, one AZ is a single point of failure) instead of one per AZ."
  type        = bool
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs in CloudWatch."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
