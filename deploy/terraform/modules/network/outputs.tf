output "vpc_id" {
  description = "ID of the VPC."
  value       = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnets (nodes, pods, internal load balancers)."
  value       = module.vpc.private_subnets
}

output "intra_subnet_ids" {
  description = "Subnets without an internet route, for the EKS control-plane network interfaces."
  value       = module.vpc.intra_subnets
}
