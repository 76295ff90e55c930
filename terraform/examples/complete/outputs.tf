output "registry_url" {
  description = "Base URL of the registry."
  value       = module.registry.registry_url
}

output "registry_host" {
  description = "Host for module sources and the credentials block."
  value       = module.registry.registry_host
}

output "master_token_secret_arn" {
  description = "Secrets Manager secret holding the master token."
  value       = module.registry.master_token_secret_arn
}

output "s3_bucket_name" {
  description = "The archive bucket."
  value       = module.registry.s3_bucket_name
}

output "custom_domain_target" {
  description = "DNS record to create for the custom domain, if any."
  value       = module.registry.custom_domain_target
}

output "edge_function_qualified_arn" {
  description = "The Lambda@Edge version in use (keep it when deleting old versions)."
  value       = module.registry.edge_function_qualified_arn
}

output "token_exchange" {
  description = "The token exchanges the registry answers (URLs, STS endpoint, server ID, audiences), or null."
  value       = module.registry.token_exchange
}

output "credentials_helper_config" {
  description = "The CLI configuration block that makes Terraform ask the tfreg credentials helper, or null without exchanges."
  value       = module.registry.credentials_helper_config
}

output "provider_mirror_url" {
  description = "The provider network mirror's URL for users' provider_installation block, or null with the mirror off."
  value       = module.registry.provider_mirror_url
}
