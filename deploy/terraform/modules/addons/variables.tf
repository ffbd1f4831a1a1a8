variable "cluster_name" {
  description = "EKS cluster the add-ons are installed into."
  type        = string
}

variable "region" {
  description = "AWS region of the cluster (the load balancer controller is told, not left to query IMDS)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster (for the load balancer controller)."
  type        = string
}

variable "enable_kube_prometheus_stack" {
  description = "Install kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana)."
  type        = bool
}

variable "letsencrypt_email" {
  description = "Contact address for Let's Encrypt; when set, ClusterIssuers letsencrypt-staging and letsencrypt-prod (HTTP-01 via nginx) are created."
  type        = string
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
