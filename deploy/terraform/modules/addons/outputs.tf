output "grafana_admin_password" {
  description = "Generated Grafana admin password (null when kube-prometheus-stack is off)."
  value       = one(random_password.grafana_admin[*].result)
  sensitive   = true
}
