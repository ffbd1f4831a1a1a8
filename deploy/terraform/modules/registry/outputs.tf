output "repository_urls" {
  description = "Repository URL (registry/name) by repository name."
  value       = local.repository_urls
}

output "repository_arns" {
  description = "Repository ARN by repository name."
  value       = local.repository_arns
}

output "registry_url" {
  description = "Registry host (account.dkr.ecr.region.amazonaws.com) of the repositories."
  value       = split("/", values(local.repository_urls)[0])[0]
}
