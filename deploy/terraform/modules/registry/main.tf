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

# What expires: untagged images (failed or superseded pushes) after some days, and builds of main
# (sha-<commit>) beyond the newest N. Release tags (X.Y.Z) and cosign's signature tags
# (sha256-<digest>.sig, also .att/.sbom) match no rule, so a release and its signature stay as long
# as the repository: a node replacing one in prod can still pull it, and a rollback finds it.
# No "tagStatus = any" rule: it would count releases and signatures among the N.
locals {
  lifecycle_rules = [
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
      description  = "Keep the last ${var.main_builds_to_keep} builds of main (sha-<commit>)"
      selection = {
        tagStatus     = "tagged"
        tagPrefixList = ["sha-"]
        countType     = "imageCountMoreThan"
        countNumber   = var.main_builds_to_keep
      }
      action = { type = "expire" }
    },
  ]
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = jsonencode({ rules = local.lifecycle_rules })
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
