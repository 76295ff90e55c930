output "registry_url" {
  description = "Base URL of the registry (the custom domain if set, else the distribution's name). Module sources use its host: <host>/<namespace>/<name>/<system>."
  value       = "https://${local.registry_host}"
}

output "registry_host" {
  description = "Host name to use in module sources and in the CLI configuration's credentials block."
  value       = local.registry_host
}

output "master_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the master token (read it with `aws secretsmanager get-secret-value --secret-id <arn> --query SecretString --output text`)."
  value       = aws_secretsmanager_secret.master_token.arn
}

output "s3_bucket_name" {
  description = "Name of the S3 bucket holding the archives (archives/), staged uploads (staging/) and the discovery document."
  value       = aws_s3_bucket.archives.id
}

output "dynamodb_table_name" {
  description = "Name of the DynamoDB token table."
  value       = aws_dynamodb_table.tokens.name
}

output "cloudfront_distribution_id" {
  description = "ID of the CloudFront distribution (for invalidations)."
  value       = aws_cloudfront_distribution.registry.id
}

output "cloudfront_domain_name" {
  description = "The distribution's own domain name (d111111abcdef8.cloudfront.net)."
  value       = aws_cloudfront_distribution.registry.domain_name
}

output "custom_domain_target" {
  description = "Where to point the custom domain, or null without one: a CNAME to domain_name, or a Route 53 alias (A and AAAA) to domain_name in hosted_zone_id (CloudFront's, Z2FDTNDATAQYW2)."
  value = local.custom_domain ? {
    record_name    = var.domain_name
    domain_name    = aws_cloudfront_distribution.registry.domain_name
    hosted_zone_id = aws_cloudfront_distribution.registry.hosted_zone_id
  } : null
}

output "origin_function_name" {
  description = "Name of the origin Lambda (its logs are in /aws/lambda/<name> in the module's region)."
  value       = aws_lambda_function.origin.function_name
}

output "edge_function_qualified_arn" {
  description = "Versioned ARN of the viewer-request Lambda@Edge function associated with the distribution (its logs are in /aws/lambda/us-east-1.<name> in each region it runs in)."
  value       = aws_lambda_function.edge.qualified_arn
}

output "custom_domain_check" {
  description = "Internal: \"ok\" when domain_name and certificate_arn are set together or not at all (the plan fails otherwise)."
  value       = local.custom_domain_check
}

output "proxy_timeout_check" {
  description = "Internal: \"ok\" when origin_timeout_seconds leaves the proxy its proxy_timeout_seconds plus 5 s (the plan fails otherwise)."
  value       = local.proxy_timeout_check
}

output "provider_mirror_timeout_check" {
  description = "Internal: \"ok\" when origin_timeout_seconds leaves the provider mirror its provider_mirror_timeout_seconds plus 5 s, or the mirror is off (the plan fails otherwise)."
  value       = local.provider_mirror_timeout_check
}

output "provider_mirror_storage_check" {
  description = "Internal: \"ok\" when the largest mirrored package fits in the origin's /tmp with 64 MB to spare, or the mirror is off (the plan fails otherwise)."
  value       = local.provider_mirror_storage_check
}

output "provider_mirror_url" {
  description = "The provider network mirror's URL, for network_mirror { url = ... } in the provider_installation block of users' CLI configuration (README.md, \"Mirroring public providers\"), or null while provider_mirror_upstreams is empty."
  value       = local.provider_mirror_enabled ? "https://${local.registry_host}/v1/mirror/" : null
}

output "web_acl_check" {
  description = "Internal: \"ok\" unless both waf_enabled and web_acl_id are set (the plan fails then)."
  value       = local.web_acl_check
}

output "origin_environment_check" {
  description = "Internal: \"ok\" when the origin Lambda's environment variables fit Lambda's 4 KB (the plan fails otherwise, naming the proxy lists to shorten)."
  value       = local.origin_environment_check
}

output "web_acl_arn" {
  description = "ARN of the WAF web ACL attached to the distribution: the module's own with waf_enabled, web_acl_id otherwise, or null."
  value       = local.web_acl_id
}

# The Python registry's output names (terraform-aws-serverless-module-registry; compat.tf), so
# that roots reading module.<name>.api_endpoint and the rest keep planning. Its
# master_token_secret_arn, s3_bucket_name and dynamodb_table_name are the outputs above.

output "api_endpoint" {
  description = "The registry's base URL, https://<custom domain or distribution domain name> without a trailing slash (the same as registry_url). The Python registry's name: there, its API Gateway stage's invoke URL; API paths such as /v1/tokens follow it here as they did there."
  value       = "https://${local.registry_host}"
}

output "custom_domain_regional_domain_name" {
  description = "The CloudFront distribution's domain name (d111111abcdef8.cloudfront.net) that the custom domain's CNAME, or Route 53 alias with custom_domain_regional_zone_id, points to. CloudFront's, not a regional API Gateway domain name as the Python registry's output of this name was; set with or without domain_name (the same as cloudfront_domain_name)."
  value       = aws_cloudfront_distribution.registry.domain_name
}

output "custom_domain_regional_zone_id" {
  description = "The Route 53 hosted zone for an alias record to custom_domain_regional_domain_name: CloudFront's (Z2FDTNDATAQYW2), not a regional API Gateway zone as the Python registry's output of this name was."
  value       = aws_cloudfront_distribution.registry.hosted_zone_id
}

output "s3_bucket_arn" {
  description = "ARN of the S3 bucket holding the archives (the Python registry's output name; its bucket is s3_bucket_name)."
  value       = aws_s3_bucket.archives.arn
}

output "token_table_name_check" {
  description = "Internal: \"ok\" unless token_table_name (the Python registry's input) and dynamodb_table_name are both set and differ (the plan fails then)."
  value       = local.token_table_name_check
}

# Token exchanges (auth.tf; README.md, "CI without secrets").

output "token_exchange" {
  description = "The token exchanges this deployment answers, or null without trust rules: the exchange URLs, the STS endpoint and server ID callers of the AWS exchange sign for, and the audiences of the OIDC issuers (the same settings the discovery document's tfreg.auth.v1 member publishes)."
  value = local.exchanges_enabled ? {
    aws_url          = local.aws_exchange_enabled ? "https://${local.registry_host}/v1/auth/aws" : null
    aws_sts_endpoint = local.aws_exchange_enabled ? var.aws_sts_endpoint : null
    aws_server_id    = local.aws_exchange_enabled ? local.aws_exchange_server_id : null
    oidc_url         = local.oidc_exchange_enabled ? "https://${local.registry_host}/v1/auth/oidc" : null
    oidc_audiences   = { for issuer in var.oidc_issuers : issuer.issuer => issuer.audience }
  } : null
}

output "credentials_helper_config" {
  description = "With a token exchange configured, the Terraform CLI configuration block that makes Terraform ask the credentials helper (terraform-credentials-tfreg in the plugin directory) for this registry's token; null otherwise. Write no credentials block for the host beside it: Terraform prefers TF_TOKEN_* and credentials blocks to the helper."
  value       = local.exchanges_enabled ? "credentials_helper \"tfreg\" {}\n" : null
}

output "aws_exchange_server_id_check" {
  description = "Internal: \"ok\" unless aws_trust_rules is set without domain_name or aws_exchange_server_id (the plan fails then)."
  value       = local.aws_exchange_server_id_check
}
