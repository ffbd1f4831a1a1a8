# The VPC CNI add-on's configuration (the schema of `aws eks describe-addon-configuration
# --addon-name vpc-cni`): its node agent enforces Kubernetes NetworkPolicies only when
# enableNetworkPolicy is "true" (a string); without it the chart's policies are accepted and ignored.
locals {
  vpc_cni_configuration = {
    enableNetworkPolicy = "true"
  }
}

# EKS through the community module (v20 input names). Access is managed by EKS access entries
# (authentication_mode = "API"); no aws-auth ConfigMap.

# The identity running Terraform (for an assumed role: the role's ARN), the same lookup the eks
# module makes for enable_cluster_creator_admin_permissions.
data "aws_caller_identity" "current" {}

data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn

  lifecycle {
    postcondition {
      condition     = !contains(var.admin_principal_arns, self.issuer_arn)
      error_message = "admin_principal_arns lists ${self.issuer_arn}, the identity running Terraform, which is cluster admin already (enable_cluster_creator_admin_permissions): remove it from the list."
    }
  }
}
module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version (~>); commit hashes apply to git sources only.
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.37"

  cluster_name    = var.name
  cluster_version = var.kubernetes_version

  vpc_id                   = var.vpc_id
  subnet_ids               = var.node_subnet_ids
  control_plane_subnet_ids = var.control_plane_subnet_ids

  # The private endpoint is always on so nodes and in-VPC tooling never leave the VPC; the public
  # endpoint exists only for the listed CIDRs.
  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access       = length(var.endpoint_public_access_cidrs) > 0
  cluster_endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  cluster_enabled_log_types              = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  # Envelope encryption of Kubernetes Secrets with a customer-managed, rotated KMS key.
  create_kms_key                  = true
  enable_kms_key_rotation         = true
  kms_key_deletion_window_in_days = 30
  cluster_encryption_config = {
    resources = ["secrets"]
  }

  authentication_mode = "API"
  # Terraform itself installs the add-ons and the app, so its identity needs cluster-admin; the other
  # admins' entries are keyed by their ARN, so reordering the list changes nothing. Listing the
  # identity running Terraform as well would fail the apply on a duplicate entry: the postcondition
  # on data.aws_iam_session_context.current stops the plan first.
  enable_cluster_creator_admin_permissions = true
  access_entries = {
    for arn in var.admin_principal_arns : arn => {
      principal_arn = arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  # IRSA stays available for workloads that need it; add-ons below use EKS Pod Identity.
  enable_irsa = true

  cluster_addons = {
    coredns                = { most_recent = true }
    kube-proxy             = { most_recent = true }
    eks-pod-identity-agent = { most_recent = true, before_compute = true }
    vpc-cni = {
      most_recent          = true
      before_compute       = true
      configuration_values = jsonencode(local.vpc_cni_configuration)
    }
  }

  eks_managed_node_groups = {
    default = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.node_instance_types
      capacity_type  = var.node_capacity_type
      min_size       = var.node_min_size
      max_size       = var.node_max_size
      desired_size   = var.node_desired_size

      block_device_mappings = {
        root = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = var.node_disk_size_gib
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }

      # IMDSv2 only, and pods cannot reach the node's instance role through IMDS (hop limit 1).
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }
    }
  }

  tags = var.tags
}
