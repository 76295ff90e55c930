# The outputs the Python registry's users read, with the same names.

output "api_endpoint" {
  description = "The registry's base URL (https://<host>)."
  value       = module.registry.api_endpoint
}

output "master_token_secret_arn" {
  description = "Secrets Manager secret holding the master token."
  value       = module.registry.master_token_secret_arn
}

output "s3_bucket_name" {
  description = "The archive bucket."
  value       = module.registry.s3_bucket_name
}

output "custom_domain_regional_domain_name" {
  description = "CloudFront's domain name: the target of the custom domain's CNAME or alias record."
  value       = module.registry.custom_domain_regional_domain_name
}

output "custom_domain_regional_zone_id" {
  description = "CloudFront's hosted zone, for a Route 53 alias record."
  value       = module.registry.custom_domain_regional_zone_id
}

output "registry_host" {
  description = "Host for module sources and the CLI's credentials block."
  value       = module.registry.registry_host
}
