output "role_arn" {
  description = "ARN of the role GitHub Actions assumes (the AWS_ROLE_ARN repository variable)."
  value       = aws_iam_role.github_actions.arn
}

output "oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider."
  value       = local.oidc_provider_arn
}
