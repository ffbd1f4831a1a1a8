# staging: production's shape at a smaller size, so upgrades are rehearsed on the same layout.
environment                  = "staging"
vpc_cidr                     = "10.20.0.0/16"
single_nat_gateway           = true
kubernetes_version           = "1.34"
node_instance_types          = ["m6i.large", "m6a.large"]
node_capacity_type           = "ON_DEMAND"
node_min_size                = 2
node_max_size                = 4
node_desired_size            = 2
node_disk_size_gib           = 50
log_retention_days           = 30
ecr_main_builds_to_keep      = 50
enable_kube_prometheus_stack = true
