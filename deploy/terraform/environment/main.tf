# One environment of crypto-rates on EKS: the root module of every environment. What differs (sizes,
# NAT layout, add-ons) is in environments/<env>/environment.tfvars; run it with terraform.sh <env>.
locals {
  name                = "crypto-rates-${var.environment}"
  app_namespace       = "crypto-rates"
  backend_repository  = "crypto-rates-backend"
  frontend_repository = "crypto-rates-frontend"

  # The Secret the chart reads DATABASE_URL from (values-staging.yaml, values-prod.yaml).
  database_url_from = "crypto-rates-database"

  chart_path  = "${path.module}/../../helm/crypto-rates"
  values_file = "${local.chart_path}/values-${var.environment}.yaml"

  tags = merge(var.tags, {
    Project     = "crypto-rates"
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

module "network" {
  source = "../modules/network"

  name                    = local.name
  cluster_name            = local.name
  cidr                    = var.vpc_cidr
  single_nat_gateway      = var.single_nat_gateway
  flow_log_retention_days = var.log_retention_days
  tags                    = local.tags
}

module "cluster" {
  source = "../modules/cluster"

  name                         = local.name
  kubernetes_version           = var.kubernetes_version
  vpc_id                       = module.network.vpc_id
  node_subnet_ids              = module.network.private_subnet_ids
  control_plane_subnet_ids     = module.network.intra_subnet_ids
  endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs
  admin_principal_arns         = var.cluster_admin_principal_arns
  node_instance_types          = var.node_instance_types
  node_capacity_type           = var.node_capacity_type
  node_min_size                = var.node_min_size
  node_max_size                = var.node_max_size
  node_desired_size            = var.node_desired_size
  node_disk_size_gib           = var.node_disk_size_gib
  log_retention_days           = var.log_retention_days
  tags                         = local.tags
}

module "registry" {
  source = "../modules/registry"

  repository_names    = toset([local.backend_repository, local.frontend_repository])
  create              = var.create_ecr_repositories
  main_builds_to_keep = var.ecr_main_builds_to_keep
  tags                = local.tags
}

module "github_oidc" {
  source = "../modules/github-oidc"

  push_role_name       = "${local.name}-github-push"
  deploy_role_name     = "${local.name}-github-deploy"
  create_push_role     = var.create_ecr_repositories
  github_repository    = var.github_repository
  branches             = var.github_branches
  tag_patterns         = var.github_tag_patterns
  environment          = var.environment
  create_oidc_provider = var.create_github_oidc_provider
  ecr_repository_arns  = values(module.registry.repository_arns)
  cluster_name         = module.cluster.cluster_name
  cluster_arn          = module.cluster.cluster_arn
  deploy_namespace     = local.app_namespace
  tags                 = local.tags
}

module "addons" {
  source = "../modules/addons"

  cluster_name                 = module.cluster.cluster_name
  region                       = var.aws_region
  vpc_id                       = module.network.vpc_id
  enable_kube_prometheus_stack = var.enable_kube_prometheus_stack
  letsencrypt_email            = var.letsencrypt_email
  tags                         = local.tags

  # The charts wait for ready pods, so the node group and the cluster add-ons must exist first.
  depends_on = [module.cluster]
}

# The app's PostgreSQL (RDS) and the Secret with its DATABASE_URL in the app namespace. Every
# environment on AWS uses it, dev too (the chart's bundled PostgreSQL is for clusters without one).
module "database" {
  source = "../modules/database"

  name                      = local.name
  region                    = var.aws_region
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  allowed_security_group_id = module.cluster.node_security_group_id
  cluster_name              = module.cluster.cluster_name
  app_namespace             = kubernetes_namespace_v1.app.metadata[0].name
  kubernetes_secret_name    = local.database_url_from
  engine_version            = var.db_engine_version
  instance_class            = var.db_instance_class
  allocated_storage_gib     = var.db_allocated_storage_gib
  max_allocated_storage_gib = var.db_max_allocated_storage_gib
  multi_az                  = var.db_multi_az
  deletion_protection       = var.db_deletion_protection
  backup_retention_days     = var.db_backup_retention_days
  password_rotation_days    = var.db_password_rotation_days
  log_retention_days        = var.log_retention_days
  tags                      = local.tags

  # External Secrets' webhook Service needs the load balancer controller's webhook serving.
  depends_on = [module.addons]
}

# The app namespace enforces the "restricted" Pod Security Standard.
resource "kubernetes_namespace_v1" "app" {
  metadata {
    name = local.app_namespace
    labels = {
      "pod-security.kubernetes.io/enforce" = "restricted"
      "pod-security.kubernetes.io/warn"    = "restricted"
    }
  }
}

# The project's umbrella chart with this environment's values file (ingress class, TLS issuer and
# monitoring there match the add-ons above); images come from ECR.
resource "helm_release" "crypto_rates" {
  count = var.deploy_app ? 1 : 0

  name      = "crypto-rates"
  namespace = kubernetes_namespace_v1.app.metadata[0].name
  chart     = local.chart_path
  values    = [file(local.values_file)]
  atomic    = true
  timeout   = 600

  # Image registry, repositories and tags from ECR; the RDS database in every environment
  # (values-dev.yaml's bundled one is for other clusters).
  dynamic "set" {
    for_each = {
      "global.imageRegistry"                     = module.registry.registry_url
      "backend.image.repository"                 = local.backend_repository
      "backend.image.tag"                        = var.backend_image_tag
      "frontend.image.repository"                = local.frontend_repository
      "frontend.image.tag"                       = var.frontend_image_tag
      "backend.database.bundled.enabled"         = "false"
      "backend.database.external.existingSecret" = module.database.kubernetes_secret_name
      "backend.networkPolicy.databaseCIDR"       = var.vpc_cidr
    }

    content {
      name  = set.key
      value = set.value
    }
  }

  # Terraform installs the first release; from then on the Deploy workflow owns upgrades (helm
  # upgrade by image digest, with the same values file), so Terraform must not roll them back.
  lifecycle {
    ignore_changes = all
  }

  depends_on = [module.addons, module.database]
}
