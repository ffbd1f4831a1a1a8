output "push_role_arn" {
  description = "ARN of the push role (the AWS_PUSH_ROLE_ARN repository variable); null when create_push_role is false."
  value       = var.create_push_role ? aws_iam_role.push[0].arn : null
}

output "deploy_role_arn" {
  description = "ARN of the deploy role (the AWS_DEPLOY_ROLE_ARN variable of the GitHub environment)."
  value       = aws_iam_role.deploy.arn
}
