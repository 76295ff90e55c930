# A complete deployment of the registry: the module with both AWS providers it needs (the
# default region for the bucket, table, secret and origin Lambda; us-east-1 for Lambda@Edge).
#
#   bash cloudfront/package.sh          # from the repository root: dist/origin.zip, dist/edge-bundle/
#   cd terraform/examples/complete
#   terraform init && terraform apply   # needs /bin/sh and python3 (or zip) to zip the edge bundle
#
# terraform destroy leaves the Lambda@Edge function behind (CloudFront keeps its replicas for
# hours): delete it later as ../../README.md, "Destroy and clean-up", shows.

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

module "registry" {
  source = "../.."

  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name_prefix     = var.name_prefix
  domain_name     = var.domain_name
  certificate_arn = var.certificate_arn
  price_class     = "PriceClass_100"

  token_cache_ttl_seconds = 60
  log_retention_days      = 30
  edge_runtime            = "nodejs22.x" # or nodejs24.x; nodejs20.x is deprecated by AWS

  # Optional WAF rate limit per client IP ($5/month + $1/month + $0.60 per million requests).
  waf_enabled                   = var.waf_enabled
  waf_rate_limit                = 2000 # requests per IP per window; CI behind one NAT counts once
  waf_rate_limit_window_seconds = 300

  # 7 days to restore the master-token secret after a destroy; 0 to re-create at once.
  master_token_recovery_window_days = 7

  # Public modules from registry.terraform.io, through this registry (README.md, "Proxy and
  # pinning"). Prefixes match whole path segments: "cloudposse/label" is cloudposse/label/*.
  proxy_enabled            = var.proxy_enabled
  proxy_upstream_url       = "https://registry.terraform.io"
  proxy_github_archive_url = "https://codeload.github.com"
  proxy_allow_list         = ["hashicorp", "terraform-aws-modules", "cloudposse/label"]
  proxy_deny_list          = ["terraform-aws-modules/iam"]
  proxy_local_only         = var.private_namespaces # never merged with upstream versions
  proxy_merge_list         = []                     # uploads merged with upstream versions: none
  proxy_ca_bundle_pem      = ""                     # or file("corp-ca.pem") for a private upstream
  proxy_timeout_seconds    = 20
  proxy_max_archive_bytes  = 104857600 # 100 MiB
  proxy_cache_days         = 30
  origin_timeout_seconds   = 60 # at least proxy_timeout_seconds + 5 and provider_mirror_timeout_seconds + 5

  # Public providers through this registry's network mirror, /v1/mirror/ (README.md,
  # "Mirroring public providers"); kept under archives/_mirror/ once fetched.
  provider_mirror_upstreams      = var.provider_mirror_upstreams
  provider_mirror_download_hosts = [] # registry.terraform.io brings https://releases.hashicorp.com
  # Big providers (hashicorp/aws among them) are fetched, unpacked to check and written to S3
  # inside one origin invocation: the longest timeout CloudFront allows, and more CPU (Lambda
  # gives it in proportion to memory) and /tmp than the defaults. Or keep the defaults and
  # mirror big ones ahead of time with `tfreg provider mirror`.
  provider_mirror_allow_list        = ["registry.terraform.io/hashicorp"]
  provider_mirror_deny_list         = []
  provider_mirror_timeout_seconds   = 55
  provider_mirror_max_package_bytes = 943718400 # 900 MiB: within origin_ephemeral_storage_mb - 64
  origin_ephemeral_storage_mb       = 1024
  origin_memory_mb                  = 2048 # billed only while it runs

  # Token exchanges (README.md, "CI without secrets"): CI jobs trade their AWS role or their
  # OIDC identity token for a registry token that lives at most an hour; no token is stored in
  # CI. Nothing is trusted until the lists below have entries.
  aws_trust_rules         = local.aws_trust_rules
  aws_exchange_server_id  = var.aws_exchange_server_id # null: domain_name
  aws_sts_endpoint        = "https://sts.amazonaws.com/"
  oidc_issuers            = local.oidc_issuers
  waf_exchange_rate_limit = 300 # POST /v1/auth/* per IP per window, with waf_enabled

  tags = {
    project = "tfreg"
  }
}

locals {
  # CI roles (one account each: a * in the account field is refused) may publish to your own
  # namespaces; a role session matches as its role (arn:aws:iam::ACCOUNT:role/NAME).
  aws_trust_rules = [
    for arn in var.ci_role_arns : {
      arn      = arn
      tier     = "uploader"
      scopes   = var.private_namespaces
      ttl_secs = 900
    }
  ]

  # What CI jobs ask their identity token for: the registry's host (the credentials helper
  # hands a CI token only to the registry its audience names).
  ci_token_audience = var.domain_name != null ? var.domain_name : "tfreg"

  oidc_issuers = concat(
    length(var.github_repositories) == 0 ? [] : [{
      issuer   = "https://token.actions.githubusercontent.com"
      audience = local.ci_token_audience
      rules = concat(
        # main of each repository publishes; any other ref and pull requests only download.
        [for repository in var.github_repositories : {
          claims   = { repository = repository, ref = "refs/heads/main" }
          tier     = "uploader"
          scopes   = var.private_namespaces
          ttl_secs = 900
        }],
        [for repository in var.github_repositories : {
          claims   = { repository = repository }
          tier     = "downloader"
          scopes   = []
          ttl_secs = 900
        }],
      )
    }],
    length(var.gitlab_projects) == 0 ? [] : [{
      issuer   = "https://gitlab.com"
      audience = local.ci_token_audience
      rules = [for project in var.gitlab_projects : {
        claims   = { project_path = project, ref_protected = "true" }
        tier     = "uploader"
        scopes   = var.private_namespaces
        ttl_secs = 900
      }]
    }],
  )
}
