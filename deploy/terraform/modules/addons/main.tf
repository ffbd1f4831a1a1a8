# Cluster add-ons as Helm releases. Chart versions are pinned here and bumped in review.
locals {
  lb_controller_service_account = "aws-load-balancer-controller"
  # The AWS Load Balancer Controller serves Ingresses of this class with an ALB (the chart's
  # ingress.className in values-<env>.yaml). It replaced ingress-nginx, which Kubernetes SIG Network
  # retired (best-effort maintenance ended March 2026): one AWS-maintained controller that was
  # installed anyway, no proxy pods in the request path, TLS from ACM.
  ingress_class_name = "alb"
  # The names the chart's values files refer to (ingress.clusterIssuer).
  cluster_issuers = {
    letsencrypt-staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    letsencrypt-prod    = "https://acme-v02.api.letsencrypt.org/directory"
  }

  charts = {
    aws_load_balancer_controller = { repository = "https://aws.github.io/eks-charts", version = "1.13.0" }
    cert_manager                 = { repository = "https://charts.jetstack.io", version = "v1.17.2" }
    metrics_server               = { repository = "https://kubernetes-sigs.github.io/metrics-server", version = "3.12.2" }
    kube_prometheus_stack        = { repository = "https://prometheus-community.github.io/helm-charts", version = "72.8.0" }
  }
}

# The controller's AWS permissions come through EKS Pod Identity (the agent is a cluster add-on).
# Role and policy get fixed names with the cluster's in them: unique per environment in a shared
# account, and within IAM's limits for every allowed environment (the module's default name_prefix,
# "<name>-", allows only 38 characters; test_terraform.py computes every IAM name).
module "lb_controller_pod_identity" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version (~>); commit hashes apply to git sources only.
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "~> 1.12"

  name                            = "${var.cluster_name}-aws-lb-controller"
  use_name_prefix                 = false
  attach_aws_lb_controller_policy = true
  aws_lb_controller_policy_name   = "${var.cluster_name}-aws-lb-controller"

  associations = {
    controller = {
      cluster_name    = var.cluster_name
      namespace       = "kube-system"
      service_account = local.lb_controller_service_account
    }
  }

  tags = var.tags
}

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = local.charts.aws_load_balancer_controller.repository
  chart      = "aws-load-balancer-controller"
  version    = local.charts.aws_load_balancer_controller.version
  atomic     = true

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = var.region
    vpcId        = var.vpc_id
    replicaCount = 2
    serviceAccount = {
      create = true
      name   = local.lb_controller_service_account
    }
    ingressClass               = local.ingress_class_name
    createIngressClassResource = true
    ingressClassConfig         = { default = false }
  })]

  depends_on = [module.lb_controller_pod_identity]
}

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  namespace        = "cert-manager"
  create_namespace = true
  repository       = local.charts.cert_manager.repository
  chart            = "cert-manager"
  version          = local.charts.cert_manager.version
  atomic           = true

  values = [yamlencode({
    crds = { enabled = true }
  })]

  # The load balancer controller's webhook intercepts new Services: it must be serving first.
  depends_on = [helm_release.aws_load_balancer_controller]
}

# ClusterIssuers are cert-manager custom resources; a small local chart installs them after the CRDs
# exist (a kubernetes_manifest would need the CRD already at plan time).
resource "helm_release" "letsencrypt_issuers" {
  count = var.letsencrypt_email == "" ? 0 : 1

  name      = "letsencrypt-issuers"
  namespace = "cert-manager"
  chart     = "${path.module}/charts/letsencrypt-issuers"
  atomic    = true

  values = [yamlencode({
    email        = var.letsencrypt_email
    ingressClass = local.ingress_class_name
    issuers      = local.cluster_issuers
  })]

  depends_on = [helm_release.cert_manager, helm_release.aws_load_balancer_controller]
}

resource "helm_release" "metrics_server" {
  name       = "metrics-server"
  namespace  = "kube-system"
  repository = local.charts.metrics_server.repository
  chart      = "metrics-server"
  version    = local.charts.metrics_server.version
  atomic     = true

  depends_on = [helm_release.aws_load_balancer_controller]
}

resource "random_password" "grafana_admin" {
  count = var.enable_kube_prometheus_stack ? 1 : 0

  length  = 32
  special = false
}

resource "helm_release" "kube_prometheus_stack" {
  count = var.enable_kube_prometheus_stack ? 1 : 0

  name             = "kube-prometheus-stack"
  namespace        = "monitoring"
  create_namespace = true
  repository       = local.charts.kube_prometheus_stack.repository
  chart            = "kube-prometheus-stack"
  version          = local.charts.kube_prometheus_stack.version
  atomic           = true
  timeout          = 900

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        # Pick up the ServiceMonitors and PrometheusRules of every release, not only this one's.
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        ruleSelectorNilUsesHelmValues           = false
        retention                               = "15d"
      }
    }
    grafana = {
      sidecar = {
        dashboards = { enabled = true, searchNamespace = "ALL" }
      }
    }
  })]

  set_sensitive {
    name  = "grafana.adminPassword"
    value = random_password.grafana_admin[0].result
  }

  depends_on = [helm_release.aws_load_balancer_controller]
}
