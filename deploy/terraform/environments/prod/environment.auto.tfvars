# prod: a NAT gateway per AZ and nodes in every AZ, so one AZ can fail; on-demand capacity.
environment                  = "prod"
vpc_cidr                     = "10.30.0.0/16"
single_nat_gateway           = false
kubernetes_version           = "1.34"
node_instance_types          = ["m6i.large", "m6a.large"]
node_capacity_type           = "ON_DEMAND"
node_min_size                = 3
node_max_size                = 9
node_desired_size            = 3
node_disk_size_gib           = 50
log_retention_days           = 365
ecr_main_builds_to_keep      = 100
enable_kube_prometheus_stack = true
