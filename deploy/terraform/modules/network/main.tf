# Three AZs: private subnets for nodes and pods, public subnets for internet-facing load balancers,
# intra subnets (no internet route) for the EKS control-plane network interfaces.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first three names in sorted order are used; a new AZ sorts after them, so the set is stable.
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = slice(sort(data.aws_availability_zones.available.names), 0, 3)

  # With a /16: private /20s at 0-2, public /24s at 48-50, intra /24s at 52-54 (scaled for smaller VPCs).
  private_subnets = [for i in range(3) : cidrsubnet(var.cidr, 4, i)]
  public_subnets  = [for i in range(3) : cidrsubnet(var.cidr, 8, 48 + i)]
  intra_subnets   = [for i in range(3) : cidrsubnet(var.cidr, 8, 52 + i)]
}

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version (~>); commit hashes apply to git sources only.
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.21"

  name = var.name
  cidr = var.cidr
  azs  = local.azs

  private_subnets = local.private_subnets
  public_subnets  = local.public_subnets
  intra_subnets   = local.intra_subnets

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  enable_dns_hostnames = true
  enable_dns_support   = true

  # Nothing may use the default security group; the module strips its rules.
  manage_default_security_group = true
  map_public_ip_on_launch       = false

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 60
  flow_log_cloudwatch_log_group_retention_in_days = var.flow_log_retention_days

  # The AWS Load Balancer Controller finds subnets by these tags.
  public_subnet_tags = {
    "kubernetes.io/role/elb"                    = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb"           = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }

  tags = var.tags
}
