# dev: smallest footprint. One NAT gateway, spot nodes, short log retention, no monitoring stack.
environment                  = "dev"
vpc_cidr                     = "10.10.0.0/16"
single_nat_gateway           = true
kubernetes_version           = "1.34"
node_instance_types          = ["t3.large", "t3a.large"]
node_capacity_type           = "SPOT"
node_min_size                = 1
node_max_size                = 3
node_desired_size            = 2
node_disk_size_gib           = 30
log_retention_days           = 14
ecr_main_builds_to_keep      = 30
enable_kube_prometheus_stack = false
