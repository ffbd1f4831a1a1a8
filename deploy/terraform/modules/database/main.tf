# The app's PostgreSQL on RDS, and the Kubernetes Secret the chart reads DATABASE_URL from
# (backend.database.external.existingSecret).
#
# The master password never passes through Terraform: RDS generates it and keeps it in Secrets
# Manager (manage_master_user_password), so the state holds only the secret's ARN. External Secrets
# Operator, allowed to read that one secret (EKS Pod Identity), writes the connection string into
# the app namespace and rewrites it when the password rotates. A random_password or a
# kubernetes_secret written by Terraform would put the password into the state.
locals {
  port = 5432
  # The chart's backend.database.external defaults (existingSecret is set by values-<env>.yaml).
  secret_key                 = "database-url"
  external_secrets_namespace = "external-secrets"
  external_secrets_account   = "external-secrets"
  external_secrets_chart     = { repository = "https://charts.external-secrets.io", version = "0.20.4" }
  major_engine_version       = split(".", var.engine_version)[0]
}

# Reachable on 5432 only from the cluster's nodes (pods share the node security group with the VPC
# CNI's default settings); it opens nothing outbound.
resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS instance by module.rds (vpc_security_group_ids), which checkov does not follow into a registry module.
  name_prefix = "${var.name}-database-"
  description = "PostgreSQL of ${var.name}: 5432 from the cluster nodes only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_nodes" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the EKS nodes"
  referenced_security_group_id = var.allowed_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  tags                         = var.tags
}

# Inputs checked against terraform-aws-modules/rds v6.13.1 (variables.tf, outputs.tf).
module "rds" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version (~>); commit hashes apply to git sources only.
  source  = "terraform-aws-modules/rds/aws"
  version = "~> 6.13"

  identifier = var.name

  engine               = "postgres"
  engine_version       = var.engine_version
  family               = "postgres${local.major_engine_version}"
  major_engine_version = local.major_engine_version
  instance_class       = var.instance_class

  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_type          = "gp3"
  # Encrypted at rest with the account's aws/rds key.
  storage_encrypted = true

  db_name  = var.database_name
  username = var.username
  port     = local.port

  # RDS generates the master password and keeps it in Secrets Manager; it rotates it on this
  # schedule, and External Secrets follows (the backends pick it up when they restart).
  manage_master_user_password                            = true
  manage_master_user_password_rotation                   = true
  master_user_password_rotation_automatically_after_days = var.password_rotation_days

  # Private subnets only, no public address, TLS required by the server.
  create_db_subnet_group = true
  subnet_ids             = var.subnet_ids
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  parameters = [
    { name = "rds.force_ssl", value = "1" },
  ]

  # Protected environments keep a final snapshot and their automated backups when deleted.
  multi_az                   = var.multi_az
  deletion_protection        = var.deletion_protection
  backup_retention_period    = var.backup_retention_days
  skip_final_snapshot        = !var.deletion_protection
  delete_automated_backups   = !var.deletion_protection
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true

  performance_insights_enabled           = true
  enabled_cloudwatch_logs_exports        = ["postgresql", "upgrade"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  tags = var.tags
}

# External Secrets Operator may read the master user's secret and nothing else.
module "external_secrets_pod_identity" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version (~>); commit hashes apply to git sources only.
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "~> 1.12"

  name                                  = "${var.name}-external-secrets"
  use_name_prefix                       = false
  attach_external_secrets_policy        = true
  external_secrets_policy_name          = "${var.name}-external-secrets"
  external_secrets_secrets_manager_arns = [module.rds.db_instance_master_user_secret_arn]

  associations = {
    controller = {
      cluster_name    = var.cluster_name
      namespace       = local.external_secrets_namespace
      service_account = local.external_secrets_account
    }
  }

  tags = var.tags
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  namespace        = local.external_secrets_namespace
  create_namespace = true
  repository       = local.external_secrets_chart.repository
  chart            = "external-secrets"
  version          = local.external_secrets_chart.version
  atomic           = true

  values = [yamlencode({
    installCRDs    = true
    serviceAccount = { create = true, name = local.external_secrets_account }
  })]

  depends_on = [module.external_secrets_pod_identity]
}

# The SecretStore and ExternalSecret are custom resources: a small local chart installs them once
# the CRDs exist (a kubernetes_manifest would need them at plan time). Only names, the host and the
# secret's ARN go in; ESO assembles the URL from the secret's username and password in the cluster.
resource "helm_release" "database_url" {
  name      = "database-url"
  namespace = var.app_namespace
  chart     = "${path.module}/charts/database-url"
  atomic    = true

  values = [yamlencode({
    region     = var.region
    secretArn  = module.rds.db_instance_master_user_secret_arn
    secretName = var.kubernetes_secret_name
    secretKey  = local.secret_key
    host       = module.rds.db_instance_address
    port       = local.port
    database   = var.database_name
  })]

  depends_on = [helm_release.external_secrets]
}
