output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.cluster.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.cluster.cluster_endpoint
}

output "region" {
  description = "AWS region of the environment."
  value       = var.aws_region
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "ecr_registry" {
  description = "ECR registry host (docker login target and the chart's global.imageRegistry)."
  value       = module.registry.registry_url
}

output "ecr_repository_urls" {
  description = "Push URLs of the backend and frontend repositories."
  value       = module.registry.repository_urls
}

output "github_push_role_arn" {
  description = "Role that pushes images (protected branches, release tags): the repository variable AWS_PUSH_ROLE_ARN; null where create_ecr_repositories is false."
  value       = module.github_oidc.push_role_arn
}

output "github_deploy_role_arn" {
  description = "Role that deploys here (this GitHub environment's deploy workflow only): the environment variable AWS_DEPLOY_ROLE_ARN."
  value       = module.github_oidc.deploy_role_arn
}

output "kubeconfig_command" {
  description = "Adds this cluster to ~/.kube/config."
  value       = "aws eks update-kubeconfig --region ${var.aws_region} --name ${module.cluster.cluster_name}"
}

output "helm_command" {
  description = "Deploys the chart by hand from the repository root, exactly as Terraform does (set IMAGE_TAG first)."
  value = join(" ", [
    "helm upgrade --install crypto-rates deploy/helm/crypto-rates",
    "--namespace ${local.app_namespace}",
    "--values deploy/helm/crypto-rates/values-${var.environment}.yaml",
    "--set global.imageRegistry=${module.registry.registry_url}",
    "--set backend.image.tag=$IMAGE_TAG --set frontend.image.tag=$IMAGE_TAG",
    "--set backend.database.bundled.enabled=false",
    "--set backend.database.external.existingSecret=${module.database.kubernetes_secret_name}",
    "--set backend.networkPolicy.databaseCIDR=${var.vpc_cidr}",
    "--atomic --wait",
  ])
}

output "grafana_admin_password" {
  description = "Grafana admin password (terraform output -raw grafana_admin_password); null without kube-prometheus-stack."
  value       = module.addons.grafana_admin_password
  sensitive   = true
}

output "database_address" {
  description = "Host of the RDS PostgreSQL (private). Its DATABASE_URL is in the Secret named by database_secret."
  value       = module.database.address
}

output "database_secret" {
  description = "Secret in the app namespace with DATABASE_URL, kept by External Secrets: kubectl -n crypto-rates get externalsecret shows its sync."
  value       = module.database.kubernetes_secret_name
}

output "database_master_user_secret_arn" {
  description = "Secrets Manager secret with the master password (aws secretsmanager get-secret-value --secret-id <arn>, for psql or a migration)."
  value       = module.database.master_user_secret_arn
}
