# The environments: one per values-<env>.yaml of the chart, the project's one list (docs/CI-CD.md,
# "Adding an environment"). Alone in this file so that the tests can evaluate it without providers.
locals {
  environments = sort([
    for file in fileset("${path.module}/../../helm/crypto-rates", "values-*.yaml") :
    trimsuffix(trimprefix(file, "values-"), ".yaml")
  ])
}
