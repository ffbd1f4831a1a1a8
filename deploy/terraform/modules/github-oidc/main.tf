# CI access without long-lived keys: GitHub's OIDC token is exchanged for short-lived credentials.
# Two roles, so that no job holds more than it needs:
#   - the push role (protected branches and release tags): push images to ECR, nothing in a cluster;
#   - the deploy role (one GitHub environment, behind its required reviewers, and only inside the
#     deploy workflow of a protected ref): read ECR, helm upgrade in one namespace.
# A job on main (e.g. the release image build with its third-party actions) carries a
# "ref:refs/heads/main" subject, which the deploy role does not trust.
locals {
  issuer = "token.actions.githubusercontent.com"

  # Exact subjects (StringEquals, no wildcards) for branches; only the tag part may hold wildcards
  # (StringLike), the repository part stays exact.
  push_branch_subjects = [for branch in var.branches : "repo:${var.github_repository}:ref:refs/heads/${branch}"]
  push_tag_subjects    = [for pattern in var.tag_patterns : "repo:${var.github_repository}:ref:refs/tags/${pattern}"]

  deploy_subject = "repo:${var.github_repository}:environment:${var.environment}"

  # job_workflow_ref is "<owner>/<repo>/<workflow path>@<ref>": the deploy workflow file as it is on
  # a protected branch or release tag, whether dispatched by hand or called from release.yml.
  deploy_workflow_refs = concat(
    [for branch in var.branches : "${var.github_repository}/${var.deploy_workflow}@refs/heads/${branch}"],
    [for pattern in var.tag_patterns : "${var.github_repository}/${var.deploy_workflow}@refs/tags/${pattern}"],
  )

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn

  # Each role's trust policy, statement by statement (sid): the claims of GitHub's token (besides
  # the audience, which every statement checks) and the test and values each must pass.
  trust_statements = {
    push = {
      ProtectedBranchesOfThisRepository = {
        sub = { test = "StringEquals", values = local.push_branch_subjects }
      }
      ReleaseTagsOfThisRepository = {
        sub = { test = "StringLike", values = local.push_tag_subjects }
      }
    }
    deploy = {
      DeployWorkflowInOneEnvironment = {
        sub = { test = "StringEquals", values = [local.deploy_subject] }
        # STS validates GitHub's job_workflow_ref claim (since January 2026): the job must run the
        # deploy workflow file of a protected ref, not any workflow that names the environment.
        job_workflow_ref = { test = "StringLike", values = local.deploy_workflow_refs }
      }
    }
  }

  # What each role may do besides logging in to ECR, statement by statement (sid): the push role
  # pushes images and has no cluster access; the deploy role reads the images (digests, cosign
  # signatures) and the cluster's endpoint, and pushes nothing.
  ecr_read_actions = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
  ]
  permission_statements = {
    push = {
      EcrPush = {
        actions   = concat(local.ecr_read_actions, ["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"])
        resources = var.ecr_repository_arns
      }
    }
    deploy = {
      EcrRead       = { actions = local.ecr_read_actions, resources = var.ecr_repository_arns }
      EksKubeconfig = { actions = ["eks:DescribeCluster"], resources = [var.cluster_arn] }
    }
  }
}

# AWS verifies GitHub's certificate against its trusted CAs, so no thumbprint is pinned.
resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]

  tags = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.issuer}"
}

# Both roles' trust: a statement whose claims admit no value (no release tag patterns) is left out.
data "aws_iam_policy_document" "trust" {
  for_each = local.trust_statements

  dynamic "statement" {
    for_each = { for sid, claims in each.value : sid => claims if alltrue([for claim in values(claims) : length(claim.values) > 0]) }

    content {
      sid     = statement.key
      effect  = "Allow"
      actions = ["sts:AssumeRoleWithWebIdentity"]

      principals {
        type        = "Federated"
        identifiers = [local.oidc_provider_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "${local.issuer}:aud"
        values   = ["sts.amazonaws.com"]
      }

      dynamic "condition" {
        for_each = statement.value

        content {
          test     = condition.value.test
          variable = "${local.issuer}:${condition.key}"
          values   = condition.value.values
        }
      }
    }
  }
}

# Both roles' permissions.
data "aws_iam_policy_document" "permissions" {
  for_each = local.permission_statements

  statement {
    sid       = "EcrLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this action has no resource-level scoping
  }

  dynamic "statement" {
    for_each = each.value

    content {
      sid       = statement.key
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

# --- push role: protected branches and release tags, ECR push only ----------------------------

resource "aws_iam_role" "push" {
  count = var.create_push_role ? 1 : 0

  name                 = var.push_role_name
  description          = "GitHub Actions of ${var.github_repository} on protected refs: push images to ECR (no cluster access)"
  assume_role_policy   = data.aws_iam_policy_document.trust["push"].json
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "push" {
  count = var.create_push_role ? 1 : 0

  name   = "push-images"
  role   = aws_iam_role.push[0].id
  policy = data.aws_iam_policy_document.permissions["push"].json
}

# --- deploy role: one GitHub environment, the deploy workflow only --------------------------

resource "aws_iam_role" "deploy" {
  name                 = var.deploy_role_name
  description          = "GitHub Actions of ${var.github_repository}, environment ${var.environment}: deploy to ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.trust["deploy"].json
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "deploy" {
  name   = "read-images-and-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.permissions["deploy"].json
}

# Inside the cluster the deploy role is admin of the app namespace only (helm upgrade of the chart).
resource "aws_eks_access_entry" "deploy" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.deploy.arn
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "deploy" {
  cluster_name  = var.cluster_name
  principal_arn = aws_eks_access_entry.deploy.principal_arn
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy"

  access_scope {
    type       = "namespace"
    namespaces = [var.deploy_namespace]
  }
}
