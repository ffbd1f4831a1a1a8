output "state_bucket" {
  description = "Name of the state bucket (bucket in each environment's backend.hcl)."
  value       = aws_s3_bucket.state.id
}

output "state_kms_key_alias" {
  description = "KMS key alias that encrypts state (kms_key_id in backend.hcl)."
  value       = aws_kms_alias.state.name
}

output "backend_config" {
  description = "backend.hcl for each environment, ready to write to environments/<env>/backend.hcl."
  value = {
    for env in local.environments : env => <<-EOT
      bucket       = "${aws_s3_bucket.state.id}"
      key          = "crypto-rates/${env}/terraform.tfstate"
      region       = "${var.aws_region}"
      encrypt      = true
      kms_key_id   = "${aws_kms_alias.state.name}"
      use_lockfile = true
    EOT
  }
}
