output "address" {
  description = "Host name of the RDS instance (private; reachable from the cluster's nodes)."
  value       = module.rds.db_instance_address
}

output "port" {
  description = "PostgreSQL port."
  value       = module.rds.db_instance_port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master user's name and password (RDS-managed; the password is in no Terraform state)."
  value       = module.rds.db_instance_master_user_secret_arn
}

output "kubernetes_secret_name" {
  description = "The Secret in the app namespace that holds DATABASE_URL (key database-url), written by External Secrets."
  value       = var.kubernetes_secret_name
}
