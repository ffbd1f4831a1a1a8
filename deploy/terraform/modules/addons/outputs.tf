output "kube_prometheus_stack_enabled" {
  description = "Whether Prometheus Operator CRDs (ServiceMonitor, PrometheusRule) are installed."
  value       = length(helm_release.kube_prometheus_stack) > 0
}

output "grafana_admin_password" {
  description = "Generated Grafana admin password (null when kube-prometheus-stack is off)."
  value       = one(random_password.grafana_admin[*].result)
  sensitive   = true
}

output "ingress_class_name" {
  description = "IngressClass of the installed ingress-nginx controller."
  value       = local.ingress_class_name
}

output "cluster_issuer_names" {
  description = "cert-manager ClusterIssuers for Ingress TLS (empty without a Let's Encrypt email)."
  value       = var.letsencrypt_email == "" ? [] : keys(local.cluster_issuers)
}
