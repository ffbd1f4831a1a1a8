# Immutable tags: a tag names one image forever, so a deployed tag can be traced to its build.
resource "aws_ecr_repository" "this" {
  for_each = var.create ? var.repository_names : toset([])

  name                 = each.key
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  # KMS with the AWS-managed aws/ecr key: encrypted at rest without a key policy to maintain.
  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after ${var.untagged_image_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last ${var.tagged_images_to_keep} tagged images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.tagged_images_to_keep
        }
        action = { type = "expire" }
      },
    ]
  })
}

data "aws_ecr_repository" "existing" {
  for_each = var.create ? toset([]) : var.repository_names

  name = each.key
}

locals {
  # Exactly one of the two maps is non-empty.
  repository_urls = merge(
    { for name, repo in aws_ecr_repository.this : name => repo.repository_url },
    { for name, repo in data.aws_ecr_repository.existing : name => repo.repository_url },
  )
  repository_arns = merge(
    { for name, repo in aws_ecr_repository.this : name => repo.arn },
    { for name, repo in data.aws_ecr_repository.existing : name => repo.arn },
  )
}
