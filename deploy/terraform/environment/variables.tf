# The same declarations for every environment; per-environment values are in
# environments/<env>/environment.tfvars, operator/site values in environments/<env>/terraform.tfvars
# (see terraform.tfvars.example).

# --- Set per environment (environment.tfvars) --------------------------------------------------

variable "environment" {
  description = "Environment name (its directory under environments/): resource name suffix and Helm values file values-<environment>.yaml."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters or digits starting with a letter: the <env> of values-<env>.yaml."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /18 (private /20s, public and intra /24s at /16)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("^[0-9.]+/1[6-8]$", var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix length from /16 to /18, e.g. 10.20.0.0/16."
  }
}

variable "single_nat_gateway" {
  description = "true: one NAT gateway for all AZs (cheaper, dev); false: one per AZ (survives an AZ outage, prod)."
  type        = bool
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version <major>.<minor>; upgrade dev first, one minor version at a time."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.34 (major.minor, no patch)."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group, most preferred first."
  type        = list(string)

  validation {
    condition     = length(var.node_instance_types) > 0 && alltrue([for t in var.node_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "node_instance_types must be a non-empty list of EC2 instance types such as t3.large."
  }
}

variable "node_capacity_type" {
  description = "ON_DEMAND, or SPOT (cheaper, can be reclaimed at two minutes' notice)."
  type        = string

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_min_size" {
  description = "Minimum number of nodes (1-50)."
  type        = number

  validation {
    condition     = var.node_min_size >= 1 && var.node_min_size <= 50 && floor(var.node_min_size) == var.node_min_size
    error_message = "node_min_size must be a whole number from 1 to 50."
  }
}

variable "node_max_size" {
  description = "Maximum number of nodes (at least node_min_size, at most 50)."
  type        = number

  validation {
    condition     = var.node_max_size >= var.node_min_size && var.node_max_size <= 50 && floor(var.node_max_size) == var.node_max_size
    error_message = "node_max_size must be a whole number from node_min_size to 50."
  }
}

variable "node_desired_size" {
  description = "Initial number of nodes, between node_min_size and node_max_size."
  type        = number

  validation {
    condition     = var.node_desired_size >= var.node_min_size && var.node_desired_size <= var.node_max_size && floor(var.node_desired_size) == var.node_desired_size
    error_message = "node_desired_size must be a whole number from node_min_size to node_max_size."
  }
}

variable "node_disk_size_gib" {
  description = "Root volume of each node in GiB (20-500)."
  type        = number

  validation {
    condition     = var.node_disk_size_gib >= 20 && var.node_disk_size_gib <= 500
    error_message = "node_disk_size_gib must be from 20 to 500."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps control-plane logs and VPC flow logs."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "ecr_main_builds_to_keep" {
  description = "Builds of main (sha-<commit> tags) kept per ECR repository (1-1000); older ones expire. Release tags and signatures are always kept."
  type        = number

  validation {
    condition     = var.ecr_main_builds_to_keep >= 1 && var.ecr_main_builds_to_keep <= 1000
    error_message = "ecr_main_builds_to_keep must be from 1 to 1000."
  }
}

variable "enable_kube_prometheus_stack" {
  description = "Install kube-prometheus-stack and turn on the app's ServiceMonitor, alerts and dashboard."
  type        = bool
}

variable "db_engine_version" {
  description = "PostgreSQL version of the RDS instance, major or major.minor (e.g. 17)."
  type        = string

  validation {
    condition     = can(regex("^1[4-9](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be a PostgreSQL major from 14 to 19, optionally with a minor, e.g. 17 or 17.6."
  }
}

variable "db_instance_class" {
  description = "RDS instance class, e.g. db.t4g.micro."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS instance class such as db.t4g.micro."
  }
}

variable "db_allocated_storage_gib" {
  description = "Initial database storage in GiB (20-1000)."
  type        = number

  validation {
    condition     = var.db_allocated_storage_gib >= 20 && var.db_allocated_storage_gib <= 1000
    error_message = "db_allocated_storage_gib must be from 20 to 1000."
  }
}

variable "db_max_allocated_storage_gib" {
  description = "Ceiling of database storage autoscaling in GiB (db_allocated_storage_gib to 2000)."
  type        = number

  validation {
    condition     = var.db_max_allocated_storage_gib >= var.db_allocated_storage_gib && var.db_max_allocated_storage_gib <= 2000
    error_message = "db_max_allocated_storage_gib must be from db_allocated_storage_gib to 2000."
  }
}

variable "db_multi_az" {
  description = "A standby database in a second AZ (prod)."
  type        = bool
}

variable "db_deletion_protection" {
  description = "Refuse deleting the database, and keep a final snapshot and its backups (prod)."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups and point-in-time recovery (1-35)."
  type        = number

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be from 1 to 35 (RDS's range; 0 would turn backups off)."
  }
}

variable "db_password_rotation_days" {
  description = "Days between rotations of the database master password (1-365); restart the backends after one."
  type        = number
  default     = 90

  validation {
    condition     = var.db_password_rotation_days >= 1 && var.db_password_rotation_days <= 365
    error_message = "db_password_rotation_days must be from 1 to 365."
  }
}

# --- Set by the operator (terraform.tfvars) ----------------------------------------------------

variable "aws_region" {
  description = "AWS region of the environment, e.g. eu-central-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as eu-central-1 or us-east-1."
  }
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs (office, VPN, CI runner egress) allowed to reach the public Kubernetes API; [] keeps the API private."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrhost(c, 0)) && !startswith(c, "0.0.0.0/")])
    error_message = "cluster_endpoint_public_access_cidrs must be IPv4 CIDRs such as 203.0.113.0/24; 0.0.0.0/0 (the whole internet) is refused."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM role/user ARNs given cluster-admin through EKS access entries; not the identity running Terraform, which is admin already (listing it stops the plan)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_principal_arns must be IAM role or user ARNs, e.g. arn:aws:iam::111122223333:role/platform-admin."
  }
}

variable "github_repository" {
  description = "The repository (owner/name) whose GitHub Actions may assume the push and deploy roles; nothing else can."
  type        = string
}

variable "github_branches" {
  description = "Protected branches whose runs may push images and whose deploy workflow may deploy (from the GitHub environment only)."
  type        = list(string)
  default     = ["main"]
}

variable "github_tag_patterns" {
  description = "Release tag patterns (protected by a tag ruleset) whose runs may push images and whose deploy workflow may deploy: [\"v*.*.*\"] for vX.Y.Z."
  type        = list(string)
  default     = ["v*.*.*"]
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; set false in all but one environment sharing an AWS account."
  type        = bool
  default     = true
}

variable "create_ecr_repositories" {
  description = "Create the ECR repositories; set false in all but one environment sharing an AWS account."
  type        = bool
  default     = true
}

variable "letsencrypt_email" {
  description = "Contact address for Let's Encrypt; when set, Ingress TLS certificates are issued by cert-manager. Empty: no issuer."
  type        = string
  default     = ""

  validation {
    condition     = var.letsencrypt_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.letsencrypt_email))
    error_message = "letsencrypt_email must be an e-mail address or empty."
  }
}

variable "deploy_app" {
  description = "Install the crypto-rates chart; false for the first apply, before any image is in ECR."
  type        = bool
  default     = true
}

variable "backend_image_tag" {
  description = "Tag of the crypto-rates-backend image in ECR to deploy (tags are immutable)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.backend_image_tag)) && var.backend_image_tag != "latest"
    error_message = "backend_image_tag must be a Docker tag (letters, digits, '_', '.', '-'; up to 128) other than \"latest\"."
  }
}

variable "frontend_image_tag" {
  description = "Tag of the crypto-rates-frontend image in ECR to deploy (tags are immutable)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.frontend_image_tag)) && var.frontend_image_tag != "latest"
    error_message = "frontend_image_tag must be a Docker tag (letters, digits, '_', '.', '-'; up to 128) other than \"latest\"."
  }
}

variable "tags" {
  description = "Extra tags for every AWS resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}
