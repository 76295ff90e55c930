# tfreg on AWS: CloudFront in front of a static discovery document (S3), a viewer-request
# Lambda@Edge token/signature check, the origin Lambda behind a Function URL (/v1/*) and the
# module archives in S3 (/archives/*). The resources are split by concern:
#   s3.tf             the archive bucket and the discovery document
#   dynamodb.tf       the token table and the master token's items
#   secrets.tf        the master token, the archive-URL signing key and the origin secret
#   lambda_origin.tf  the origin Lambda, its Function URL, role and logs
#   lambda_edge.tf    the viewer-request Lambda@Edge function (us-east-1), its bundle and role
#   cloudfront.tf     the distribution, its cache and origin request policies, OAC
#   waf.tf            the optional WAF web ACL (us-east-1) with a rate limit per client IP
#   auth.tf           the token exchanges' trust rules: TFREG_AUTH_CONFIG and discovery's tfreg.auth.v1

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  bucket_name = coalesce(var.s3_bucket_name, "${var.name_prefix}-${local.account_id}-${local.region}")
  table_name  = coalesce(var.dynamodb_table_name, var.token_table_name, "${var.name_prefix}-tokens") # token_table_name: compat.tf
  secret_name = coalesce(var.master_token_secret_name, "${var.name_prefix}/master-token")

  origin_function_name = "${var.name_prefix}-origin"
  edge_function_name   = "${var.name_prefix}-edge"

  # The packaged artifacts (bash cloudfront/package.sh), relative to this repository by default.
  origin_zip_path = coalesce(var.origin_zip_path, "${path.module}/../dist/origin.zip")
  edge_bundle_dir = coalesce(var.edge_bundle_dir, "${path.module}/../dist/edge-bundle")

  # Key prefixes in the bucket; archives/ is also the URL path CloudFront forwards unchanged.
  archive_prefix = "archives/"
  staging_prefix = "staging/"
  # The proxy's cache of public modules (downloads and their versions.json), under archives/ so
  # that CloudFront serves it through the same behaviour and signed URLs; expired by lifecycle.
  proxy_cache_prefix = "${local.archive_prefix}_proxy/"
  # The provider mirror's packages (origin/src/aws/s3/mirror.rs): zips and their package.json
  # records under archives/_mirror/, served like archives through signed URLs; kept for good
  # like pins, never expired (not a cache).
  provider_mirror_prefix = "${local.archive_prefix}_mirror/"
  # Provider releases (origin/src/aws/s3/providers.rs): their files under
  # archives/_providers/ (served like archives, through signed URLs), their records and the
  # namespaces' signing keys beside archives/, where CloudFront never reads.
  provider_records_prefix = "providers/"
  provider_keys_prefix    = "provider-keys/"

  # Both or neither. Variable validations cannot see each other before Terraform 1.9, so this
  # fails the plan through file() of a path that names the mistake.
  custom_domain = var.domain_name != null
  custom_domain_check = (var.domain_name == null) == (var.certificate_arn == null) ? "ok" : file(
    "ERROR: set domain_name and certificate_arn together, or neither"
  )

  # A proxied download or a pin runs the upstream and archive-host fetches inside one origin
  # invocation, bounded by proxy_timeout_seconds; the function needs 5 s beyond that to answer
  # its own 504 (and write the cache) before Lambda kills it. Checked the same way: a
  # precondition would need Terraform 1.2.
  proxy_timeout_check = !var.proxy_enabled || var.origin_timeout_seconds >= var.proxy_timeout_seconds + 5 ? "ok" : file(
    "ERROR: with proxy_enabled, origin_timeout_seconds must be at least proxy_timeout_seconds + 5"
  )

  # The provider mirror (README.md, "Mirroring public providers"): on with an upstream. A
  # package's first download (or a POST that mirrors it ahead) fetches, checks and stores it
  # inside one origin invocation bounded by provider_mirror_timeout_seconds, with 5 s beyond
  # it for the origin's own 504; and the zip lies in the function's /tmp while it is checked,
  # which must hold the largest package with 64 MB to spare (the runtime, other requests'
  # scratch files). Checked like the proxy's timeout.
  provider_mirror_enabled = length(var.provider_mirror_upstreams) > 0
  provider_mirror_timeout_check = !local.provider_mirror_enabled || var.origin_timeout_seconds >= var.provider_mirror_timeout_seconds + 5 ? "ok" : file(
    "ERROR: with provider_mirror_upstreams, origin_timeout_seconds must be at least provider_mirror_timeout_seconds + 5"
  )
  provider_mirror_storage_check = !local.provider_mirror_enabled || var.provider_mirror_max_package_bytes <= (var.origin_ephemeral_storage_mb - 64) * 1048576 ? "ok" : file(
    "ERROR: with provider_mirror_upstreams, provider_mirror_max_package_bytes must be at most (origin_ephemeral_storage_mb - 64) * 1048576: raise origin_ephemeral_storage_mb or lower the package limit"
  )

  # The distribution's web ACL: the module's own (waf_enabled) or one the operator brings
  # (web_acl_id), not both.
  web_acl_id = var.waf_enabled ? aws_wafv2_web_acl.registry[0].arn : var.web_acl_id
  web_acl_check = !(var.waf_enabled && var.web_acl_id != null) ? "ok" : file(
    "ERROR: set waf_enabled or web_acl_id, not both"
  )

  # CloudFront's origin response timeout for the origin Lambda: never shorter than the
  # function's own timeout (or CloudFront answers 504 first and, for a GET, retries the origin,
  # running the function again), one second beyond it so the function's answer arrives first,
  # at least CloudFront's default of 30 and at most 60, the ceiling without a quota increase
  # (origin_timeout_seconds is validated to 3-60, so only at 60 are the two equal).
  origin_read_timeout = min(60, max(30, var.origin_timeout_seconds + 1))

  registry_host = local.custom_domain ? var.domain_name : aws_cloudfront_distribution.registry.domain_name

  tags = merge({ "tfreg:deployment" = var.name_prefix }, var.tags)
}
