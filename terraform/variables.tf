# Naming and tagging

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (functions, roles, table, secret, policies), so that two deployments fit in one account. Lowercase letters, digits and hyphens, 1-24 characters, starting with a letter."
  default     = "tfreg"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name_prefix)) && !can(regex("-$", var.name_prefix))
    error_message = "The name_prefix must be 1-24 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource that takes tags."
  default     = {}
}

variable "s3_bucket_name" {
  type        = string
  description = "Name of the S3 bucket for module archives and the discovery document. Default (null, or \"\" as the Python registry's module wrote it): \"<name_prefix>-<account id>-<region>\"."
  default     = null

  validation {
    condition     = var.s3_bucket_name == null || var.s3_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.s3_bucket_name))
    error_message = "The s3_bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit."
  }
}

variable "dynamodb_table_name" {
  type        = string
  description = "Name of the DynamoDB token table. Default: \"<name_prefix>-tokens\"."
  default     = null

  validation {
    condition     = var.dynamodb_table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.dynamodb_table_name))
    error_message = "The dynamodb_table_name must be 3-255 letters, digits, underscores, dots or hyphens."
  }
}

variable "master_token_secret_name" {
  type        = string
  description = "Name of the Secrets Manager secret that holds the master token. Default: \"<name_prefix>/master-token\"."
  default     = null

  validation {
    condition     = var.master_token_secret_name == null || can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.master_token_secret_name))
    error_message = "The master_token_secret_name may contain only letters, digits and /_+=.@- (1-512 characters)."
  }
}

# Custom domain

variable "domain_name" {
  type        = string
  description = "Custom host name for the registry (for example registry.example.com). Optional; set together with certificate_arn. Without it the registry is reached at the distribution's *.cloudfront.net name."
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "The domain_name must be a lowercase DNS host name with at least one dot, such as registry.example.com (Terraform rejects registry hosts without a dot)."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ARN of an ACM certificate in us-east-1 that covers domain_name (CloudFront only takes certificates from us-east-1, whatever region the rest of the deployment is in; the Python registry's regional API Gateway domain took one from its own region). Optional; set together with domain_name."
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "The certificate_arn must be an ACM certificate ARN (arn:aws:acm:us-east-1:<account>:certificate/<id>)."
  }

  # The region is the ARN's fourth field. A certificate that served the Python registry's
  # regional API Gateway domain is in that deployment's region, and CloudFront refuses it
  # anywhere but us-east-1: fail the plan here rather than the distribution's update at apply.
  validation {
    condition     = var.certificate_arn == null ? true : try(split(":", var.certificate_arn)[3], "us-east-1") == "us-east-1"
    error_message = "The certificate_arn is an ACM certificate from a region other than us-east-1 (the ARN's fourth field), and CloudFront only takes certificates from us-east-1, whatever region the rest of the deployment is in. The Python registry's regional API Gateway domain took a certificate from its own region: request or import one for the same domain in us-east-1 and pass its ARN."
  }
}

variable "price_class" {
  type        = string
  description = "CloudFront price class: PriceClass_100 (North America, Europe, Israel), PriceClass_200 (adds most of Asia, Middle East, Africa) or PriceClass_All."
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "The price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "web_acl_id" {
  type        = string
  description = "Optional AWS WAF web ACL of your own (the ARN of a WAFv2 web ACL in us-east-1, scope CLOUDFRONT) to attach to the distribution. Leave null with waf_enabled, which makes one; the plan fails if both are set."
  default     = null
}

# Optional WAF (README.md, "Abuse and cost"): a web ACL in us-east-1 with one rate-based rule per
# client IP, attached to the distribution. WAF bills per web ACL, per rule and per request
# inspected (https://aws.amazon.com/waf/pricing/), so it is off by default.

variable "waf_enabled" {
  type        = bool
  description = "Create a WAF web ACL (scope CLOUDFRONT, in us-east-1) that blocks a client IP sending more than waf_rate_limit requests in waf_rate_limit_window_seconds, and attach it to the distribution. Costs $5 a month for the web ACL, $1 a month for the rule and $0.60 per million requests (AWS WAF pricing). Off by default."
  default     = false
}

variable "waf_rate_limit" {
  type        = number
  description = "With waf_enabled: requests one client IP may send in waf_rate_limit_window_seconds before WAF answers it 403 until its rate falls below the limit again. Count CI behind one NAT address: a terraform init makes about 3 requests per module."
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000 && floor(var.waf_rate_limit) == var.waf_rate_limit
    error_message = "The waf_rate_limit must be a whole number from 10 (WAF's lowest rate limit) to 2000000000."
  }
}

variable "waf_rate_limit_window_seconds" {
  type        = number
  description = "With waf_enabled: the window WAF counts a client IP's requests over, in seconds: 60, 120, 300 or 600."
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_limit_window_seconds)
    error_message = "The waf_rate_limit_window_seconds must be 60, 120, 300 or 600 (WAF's evaluation windows)."
  }
}

variable "access_log_bucket_domain_name" {
  type        = string
  description = "Optional bucket domain name (bucket.s3.amazonaws.com, ACLs enabled) for CloudFront standard access logs. Off by default."
  default     = null
}

# Tokens and signed archive URLs

variable "token_cache_ttl_seconds" {
  type        = number
  description = "Seconds the edge function trusts a token it has looked up before asking DynamoDB again. This is the revocation delay: a revoked token keeps working at the edge for up to this long."
  default     = 60

  validation {
    condition     = var.token_cache_ttl_seconds >= 0 && var.token_cache_ttl_seconds <= 3600 && floor(var.token_cache_ttl_seconds) == var.token_cache_ttl_seconds
    error_message = "The token_cache_ttl_seconds must be a whole number from 0 to 3600."
  }
}

variable "negative_token_cache_ttl_seconds" {
  type        = number
  description = "Seconds the edge function remembers that a token is unknown (a new token can be refused for up to this long after creation if someone tried it before)."
  default     = 10

  validation {
    condition     = var.negative_token_cache_ttl_seconds >= 0 && var.negative_token_cache_ttl_seconds <= 600 && floor(var.negative_token_cache_ttl_seconds) == var.negative_token_cache_ttl_seconds
    error_message = "The negative_token_cache_ttl_seconds must be a whole number from 0 to 600."
  }
}

variable "token_cache_capacity" {
  type        = number
  description = "Token lookups each edge function container keeps (LRU). At most 50000: a viewer-request function has 128 MB, and the cache's memory grows with its capacity."
  default     = 10000

  validation {
    condition     = var.token_cache_capacity >= 1 && var.token_cache_capacity <= 50000 && floor(var.token_cache_capacity) == var.token_cache_capacity
    error_message = "The token_cache_capacity must be a whole number from 1 to 50000 (the edge function has 128 MB of memory)."
  }
}

variable "archive_url_ttl_seconds" {
  type        = number
  description = "Seconds a signed archive URL (the X-Terraform-Get answer of a download) stays valid."
  default     = 300

  validation {
    condition     = var.archive_url_ttl_seconds >= 60 && var.archive_url_ttl_seconds <= 86400 && floor(var.archive_url_ttl_seconds) == var.archive_url_ttl_seconds
    error_message = "The archive_url_ttl_seconds must be a whole number from 60 (the download answer is cached up to 30 s at the edge) to 86400."
  }
}

variable "max_upload_bytes" {
  type        = number
  description = "The largest module archive a large (staged) upload takes, in bytes. Direct PUTs stay under Lambda's 6 MB payload limit whatever this says."
  default     = 104857600

  validation {
    # The origin spools the staged archive and its normalised copy to its /tmp (512 MB).
    condition     = var.max_upload_bytes >= 1048576 && var.max_upload_bytes <= 209715200 && floor(var.max_upload_bytes) == var.max_upload_bytes
    error_message = "The max_upload_bytes must be a whole number from 1048576 (1 MiB) to 209715200 (200 MiB: the origin spools the archive and its normalised copy to its 512 MB /tmp)."
  }
}

# Public module proxy and pinning (passed to the origin Lambda as TFREG_PROXY_*; README.md,
# "Proxy and pinning")
#
# The three lists take module prefixes matched on whole path segments: "acme" covers every
# acme/*, "acme/vpc" covers acme/vpc/* but not acme/vpc-peering, "acme/vpc/aws" is one module.
# Namespace and name: a lowercase letter or digit, then up to 63 lowercase letters, digits, '-'
# or '_'; system: 1-64 lowercase letters or digits (the origin parses them with the same rules).

variable "proxy_enabled" {
  type        = bool
  description = "Answer modules this registry does not have from the upstream registry (proxy_upstream_url), within proxy_allow_list and proxy_deny_list. Passed to the origin as TFREG_PROXY_ENABLED. Pinning (POST /v1/pins/...) fetches from the same upstream."
  default     = false
}

variable "proxy_upstream_url" {
  type        = string
  description = "Base URL of the upstream registry (its discovery document is read from <url>/.well-known/terraform.json). https, no trailing slash, no query. Passed to the origin as TFREG_PROXY_UPSTREAM."
  default     = "https://registry.terraform.io"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~%-]+)*$", var.proxy_upstream_url))
    error_message = "The proxy_upstream_url must be an https:// URL without a trailing slash, query or fragment, such as https://registry.terraform.io."
  }
}

variable "proxy_github_archive_url" {
  type        = string
  description = "Base URL of GitHub's archive host; archives of GitHub-hosted modules are fetched as <url>/<owner>/<repo>/tar.gz/<ref>. https, no trailing slash, no query. Passed to the origin as TFREG_PROXY_GITHUB_ARCHIVE_URL."
  default     = "https://codeload.github.com"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~%-]+)*$", var.proxy_github_archive_url))
    error_message = "The proxy_github_archive_url must be an https:// URL without a trailing slash, query or fragment, such as https://codeload.github.com."
  }
}

variable "proxy_allow_list" {
  type        = list(string)
  description = "Module prefixes the proxy may serve from upstream (\"hashicorp\", \"terraform-aws-modules/vpc\", \"hashicorp/consul/aws\"); empty allows every module not denied. Passed to the origin as TFREG_PROXY_ALLOW_LIST (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.proxy_allow_list : can(regex("^[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9]{1,64})?)?/?$", entry))])
    error_message = "Each proxy_allow_list entry must be a module prefix: namespace, namespace/name or namespace/name/system (namespace and name lowercase letters, digits, '-' or '_', starting with a letter or digit, up to 64 characters; system 1-64 lowercase letters or digits; no '*'). A trailing '/', as the Python registry writes a namespace (\"hashicorp/\"), is accepted and means the same prefix."
  }
}

variable "proxy_deny_list" {
  type        = list(string)
  description = "Module prefixes the proxy must never serve from upstream; a deny wins over an allow. Passed to the origin as TFREG_PROXY_DENY_LIST (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.proxy_deny_list : can(regex("^[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9]{1,64})?)?/?$", entry))])
    error_message = "Each proxy_deny_list entry must be a module prefix: namespace, namespace/name or namespace/name/system (namespace and name lowercase letters, digits, '-' or '_', starting with a letter or digit, up to 64 characters; system 1-64 lowercase letters or digits; no '*'). A trailing '/', as the Python registry writes a namespace (\"hashicorp/\"), is accepted and means the same prefix."
  }
}

variable "proxy_local_only" {
  type        = list(string)
  description = "Module prefixes whose versions come only from this registry (uploads and pins), never merged with upstream versions: list your private namespaces here so that a public module of the same name cannot slip in (dependency confusion). Passed to the origin as TFREG_PROXY_LOCAL_ONLY (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.proxy_local_only : can(regex("^[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9]{1,64})?)?/?$", entry))])
    error_message = "Each proxy_local_only entry must be a module prefix: namespace, namespace/name or namespace/name/system (namespace and name lowercase letters, digits, '-' or '_', starting with a letter or digit, up to 64 characters; system 1-64 lowercase letters or digits; no '*'). A trailing '/', as the Python registry writes a namespace (\"hashicorp/\"), is accepted and means the same prefix."
  }
}

variable "proxy_timeout_seconds" {
  type        = number
  description = "Bound on all upstream and archive-host fetches of one request (the whole operation, not each hop); beyond it the origin answers 504. With proxy_enabled, origin_timeout_seconds must be at least this plus 5. Passed to the origin as TFREG_PROXY_TIMEOUT_SECS."
  default     = 20

  validation {
    condition     = var.proxy_timeout_seconds >= 1 && var.proxy_timeout_seconds <= 60 && floor(var.proxy_timeout_seconds) == var.proxy_timeout_seconds
    error_message = "The proxy_timeout_seconds must be a whole number from 1 to 60."
  }
}

variable "proxy_max_archive_bytes" {
  type        = number
  description = "Largest archive the origin fetches from the archive host (proxied downloads and pins), in bytes; a larger one is refused. Passed to the origin as TFREG_PROXY_MAX_ARCHIVE_BYTES. Default 100 MiB, the largest upload as well."
  default     = 104857600

  validation {
    condition     = var.proxy_max_archive_bytes >= 1 && floor(var.proxy_max_archive_bytes) == var.proxy_max_archive_bytes
    error_message = "The proxy_max_archive_bytes must be a whole number of at least 1."
  }
}

variable "proxy_cache_days" {
  type        = number
  description = "Days the bucket keeps a proxied (not pinned) download and its version index under archives/_proxy/ before the lifecycle expires them; the next request fetches them again. Pinned and uploaded versions never expire."
  default     = 30

  validation {
    condition     = var.proxy_cache_days >= 1 && var.proxy_cache_days <= 3650 && floor(var.proxy_cache_days) == var.proxy_cache_days
    error_message = "The proxy_cache_days must be a whole number from 1 to 3650."
  }
}

# Provider mirror (passed to the origin Lambda as TFREG_PROVIDER_MIRROR_*; README.md,
# "Mirroring public providers"): public providers served through this registry's
# /v1/mirror/ (Terraform's provider network mirror protocol), fetched from their own registry
# on first download, checked, and kept under archives/_mirror/ for good. Off while
# provider_mirror_upstreams is empty, and then none of these variables reaches the origin.
#
# The validations repeat the origin's start-up checks (origin/src/mirror/mod.rs,
# MirrorConfig::from_env): a setting the origin refuses stops it at every cold start, so every
# request would fail until the next apply. A provider hostname is a lowercase DNS name without
# a port (Terraform's mirror client cannot send one); allow and deny entries are prefixes on
# whole segments of hostname/namespace/type, like the proxy's lists.

variable "provider_mirror_upstreams" {
  type        = list(string)
  description = "Provider registry hostnames whose providers the mirror serves, each fetched from https://<hostname> (\"registry.terraform.io\"), or \"hostname=https://host[:port]\" to fetch that hostname's providers from elsewhere (a registry behind another name). Empty (the default): the mirror is off. Passed to the origin as TFREG_PROVIDER_MIRROR_UPSTREAMS (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.provider_mirror_upstreams : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(=https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?)?$", entry)) && length(split("=", entry)[0]) <= 253])
    error_message = "Each provider_mirror_upstreams entry must be a lowercase provider registry hostname without a port (registry.terraform.io), or hostname=https://host[:port] to fetch it from elsewhere (no path, query or credentials: only the URL's scheme, host and port are used)."
  }

  validation {
    condition     = length(distinct([for entry in var.provider_mirror_upstreams : split("=", entry)[0]])) == length(var.provider_mirror_upstreams)
    error_message = "The provider_mirror_upstreams name a hostname twice: each hostname is fetched from one place."
  }
}

variable "provider_mirror_download_hosts" {
  type        = list(string)
  description = "Base URLs (https://host[:port]) the upstreams' download answers may point at: where the zips, SHA256SUMS and signatures are fetched from, beside the upstreams themselves; nothing else is ever fetched. Empty (the default): https://releases.hashicorp.com when registry.terraform.io is an upstream, none otherwise. Passed to the origin as TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.provider_mirror_download_hosts : can(regex("^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$", entry))])
    error_message = "Each provider_mirror_download_hosts entry must be an https:// URL of a host and optional port, such as https://releases.hashicorp.com (no path, query or credentials: the origin compares scheme, host and port only)."
  }
}

variable "provider_mirror_allow_list" {
  type        = list(string)
  description = "Provider prefixes the mirror may fetch, on whole segments of hostname/namespace/type (\"registry.terraform.io/hashicorp\", \"registry.terraform.io/hashicorp/random\"); empty allows every provider of the upstreams not denied. Passed to the origin as TFREG_PROVIDER_MIRROR_ALLOW_LIST (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.provider_mirror_allow_list : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z][a-z0-9-]{0,63})?)?/?$", entry)) && length(split("/", entry)[0]) <= 253])
    error_message = "Each provider_mirror_allow_list entry must be a provider prefix: hostname, hostname/namespace or hostname/namespace/type, lowercase (a hostname without a port; namespace: letters, digits, '-' or '_', starting with a letter or digit; type: letters, digits or '-', starting with a letter; up to 64 characters each), no '*'; a trailing '/' is allowed."
  }
}

variable "provider_mirror_deny_list" {
  type        = list(string)
  description = "Provider prefixes the mirror must never fetch, as in provider_mirror_allow_list (\"registry.terraform.io/hashicorp/aws\"); a deny wins over an allow. Passed to the origin as TFREG_PROVIDER_MIRROR_DENY_LIST (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.provider_mirror_deny_list : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z][a-z0-9-]{0,63})?)?/?$", entry)) && length(split("/", entry)[0]) <= 253])
    error_message = "Each provider_mirror_deny_list entry must be a provider prefix: hostname, hostname/namespace or hostname/namespace/type, lowercase (a hostname without a port; namespace: letters, digits, '-' or '_', starting with a letter or digit; type: letters, digits or '-', starting with a letter; up to 64 characters each), no '*'; a trailing '/' is allowed."
  }
}

variable "provider_mirror_timeout_seconds" {
  type        = number
  description = "Bound on one mirror request as a whole: the upstream fetches (discovery, download answer, SHA256SUMS, its signature and the zip), the package's checks and its writes to S3; beyond it the origin answers 504, and a package not finished is not kept (a POST that mirrors several platforms keeps those finished before the limit). A package's first download, or such a POST, runs within one origin invocation: with provider_mirror_upstreams set, origin_timeout_seconds must be at least this plus 5. Passed to the origin as TFREG_PROVIDER_MIRROR_TIMEOUT_SECS."
  default     = 25

  validation {
    condition     = var.provider_mirror_timeout_seconds >= 1 && var.provider_mirror_timeout_seconds <= 55 && floor(var.provider_mirror_timeout_seconds) == var.provider_mirror_timeout_seconds
    error_message = "The provider_mirror_timeout_seconds must be a whole number from 1 to 55 (the origin Lambda runs at most 60 s behind CloudFront, and needs 5 s beyond this to answer)."
  }
}

variable "provider_mirror_max_package_bytes" {
  type        = number
  description = "Largest provider package (zip) the mirror fetches, in bytes; a larger one is refused. The package is written to the origin's /tmp while it is checked: with provider_mirror_upstreams set, it must fit in origin_ephemeral_storage_mb less 64 MB. Passed to the origin as TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES. Default 419430400 (400 MiB)."
  default     = 419430400

  validation {
    condition     = var.provider_mirror_max_package_bytes >= 1 && floor(var.provider_mirror_max_package_bytes) == var.provider_mirror_max_package_bytes
    error_message = "The provider_mirror_max_package_bytes must be a whole number of at least 1."
  }
}

variable "origin_ephemeral_storage_mb" {
  type        = number
  description = "The origin Lambda's /tmp (ephemeral storage) in MB, 512-10240. It holds a mirrored provider package while it is checked (provider_mirror_max_package_bytes must fit, with 64 MB to spare) and a staged upload while it is validated. Lambda bills storage beyond 512 MB per GB-second."
  default     = 512

  validation {
    condition     = var.origin_ephemeral_storage_mb >= 512 && var.origin_ephemeral_storage_mb <= 10240 && floor(var.origin_ephemeral_storage_mb) == var.origin_ephemeral_storage_mb
    error_message = "The origin_ephemeral_storage_mb must be a whole number from 512 to 10240 (Lambda's ephemeral storage limits)."
  }
}

# Functions

variable "origin_zip_path" {
  type        = string
  description = "Path of the packaged origin Lambda (dist/origin.zip from `bash cloudfront/package.sh`). Default: dist/origin.zip of the repository this module sits in."
  default     = null
}

variable "edge_bundle_dir" {
  type        = string
  description = "Directory of the unbaked Lambda@Edge bundle (index.mjs and edge.wasm, dist/edge-bundle/ from `bash cloudfront/package.sh`). The module adds config.json and zips the three. Default: dist/edge-bundle of the repository this module sits in."
  default     = null
}

# Lambda@Edge runs the Node.js runtimes Lambda supports
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-at-edge-function-restrictions.html);
# Lambda's table (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html) lists
# nodejs24.x and nodejs22.x, and nodejs20.x as deprecated on 2026-04-30, with function creation
# blocked from 2026-08-31 and updates from 2026-09-30.
variable "edge_runtime" {
  type        = string
  description = "Node.js runtime of the viewer-request Lambda@Edge function: nodejs22.x (default) or nodejs24.x. Not nodejs20.x: AWS deprecated it on 2026-04-30 and blocks creating functions on it from 2026-08-31."
  default     = "nodejs22.x"

  validation {
    condition     = contains(["nodejs22.x", "nodejs24.x"], var.edge_runtime)
    error_message = "The edge_runtime must be nodejs22.x or nodejs24.x (nodejs20.x is deprecated by AWS Lambda: no new functions from 2026-08-31)."
  }
}

variable "origin_memory_mb" {
  type        = number
  description = "Memory of the origin Lambda in MB (CPU grows with it; archive validation of large uploads is CPU-bound)."
  default     = 512

  validation {
    condition     = var.origin_memory_mb >= 128 && var.origin_memory_mb <= 10240 && floor(var.origin_memory_mb) == var.origin_memory_mb
    error_message = "The origin_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "origin_timeout_seconds" {
  type        = number
  description = "Timeout of the origin Lambda in seconds (3-60: CloudFront waits at most 60 s for an origin's answer without a quota increase). The distribution's origin read timeout follows it (one second more, at least 30, at most 60). With proxy_enabled it must be at least proxy_timeout_seconds + 5, so that a slow upstream ends in the origin's own 504 rather than a killed function."
  default     = 30

  validation {
    condition     = var.origin_timeout_seconds >= 3 && var.origin_timeout_seconds <= 60 && floor(var.origin_timeout_seconds) == var.origin_timeout_seconds
    error_message = "The origin_timeout_seconds must be a whole number from 3 to 60."
  }
}

variable "storage_timeout_seconds" {
  type        = number
  description = "Seconds one attempt at an S3 or DynamoDB request from the origin waits for its answer before the SDK tries again (archive uploads get a second more per MiB). The SDK makes up to three attempts, so keep three timeouts within origin_timeout_seconds."
  default     = 5

  validation {
    condition     = var.storage_timeout_seconds >= 1 && var.storage_timeout_seconds <= 20 && floor(var.storage_timeout_seconds) == var.storage_timeout_seconds
    error_message = "The storage_timeout_seconds must be a whole number from 1 to 20."
  }
}

variable "origin_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the origin Lambda, a ceiling on how many run at once (and on what a flood of uncached requests can cost). -1 leaves it unreserved."
  default     = -1

  validation {
    condition     = var.origin_reserved_concurrency >= -1 && floor(var.origin_reserved_concurrency) == var.origin_reserved_concurrency
    error_message = "The origin_reserved_concurrency must be -1 (unreserved) or a whole number of at least 0."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps the functions' logs (the origin's, and the edge function's in us-east-1; Lambda@Edge creates its log groups in other regions itself, without retention)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

# Storage

variable "s3_versioning_enabled" {
  type        = bool
  description = "Keep S3 object versions (a deleted or overwritten archive or index can be restored). Noncurrent versions expire after noncurrent_version_expiration_days."
  default     = true
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days S3 keeps a noncurrent object version when versioning is on (every publish rewrites the module's versions.json index)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "The noncurrent_version_expiration_days must be a whole number of at least 1."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the bucket with its archives in it and the token table, and (unless master_token_recovery_window_days says otherwise) the master-token secret without a recovery window. Keep false in production."
  default     = false
}

variable "master_token_recovery_window_days" {
  type        = number
  description = "Days Secrets Manager keeps the master-token secret restorable after a destroy (7-30), or 0 to delete it at once. While a deleted secret waits out its window, its name cannot be used again: a deployment with the same name cannot be re-created until then. Default (null): 7, or 0 with force_destroy."
  default     = null

  validation {
    condition     = var.master_token_recovery_window_days == null ? true : ((var.master_token_recovery_window_days == 0 || (var.master_token_recovery_window_days >= 7 && var.master_token_recovery_window_days <= 30)) && floor(var.master_token_recovery_window_days) == var.master_token_recovery_window_days)
    error_message = "The master_token_recovery_window_days must be 0 (delete at once) or a whole number from 7 to 30 (Secrets Manager's recovery windows)."
  }
}

variable "proxy_merge_list" {
  type        = list(string)
  description = "Module prefixes whose upstream versions are merged with versions uploaded here (and fetched even though their namespace holds uploads). By default a namespace that holds an uploaded module is private as a whole, against dependency confusion; list only what you mean to mix. A trailing '/' is allowed (\"acme/vpc/\"). Passed to the origin as TFREG_PROXY_MERGE_LIST (comma-separated)."
  default     = []

  validation {
    condition     = alltrue([for entry in var.proxy_merge_list : can(regex("^[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9]{1,64})?)?/?$", entry))])
    error_message = "Each proxy_merge_list entry must be a module prefix: namespace, namespace/name or namespace/name/system, with an optional trailing '/' (lowercase letters, digits, '-' or '_'; no '*')."
  }
}

variable "proxy_ca_bundle_pem" {
  type        = string
  description = "PEM certificates the proxy's upstream client trusts beside the platform's and the built-in roots: a private upstream registry behind a corporate CA. Passed to the origin as TFREG_PROXY_CA_BUNDLE. Lambda allows 4 KB of environment variables in all (the plan checks): one or two certificates fit, a whole corporate bundle does not."
  default     = ""

  validation {
    condition     = var.proxy_ca_bundle_pem == "" || can(regex("-----BEGIN CERTIFICATE-----", var.proxy_ca_bundle_pem))
    error_message = "The proxy_ca_bundle_pem must be empty or PEM text with -----BEGIN CERTIFICATE----- blocks (the file's contents, such as file(\"corp-ca.pem\"), not its path)."
  }
}

# Token exchanges (auth.tf; README.md, "CI without secrets"): who may trade an AWS identity
# (POST /v1/auth/aws) or a CI's OIDC identity token (POST /v1/auth/oidc) for a short-lived
# registry token, rendered into the origin's TFREG_AUTH_CONFIG. Both lists empty (the default):
# no exchange, and no TFREG_AUTH_CONFIG at all.
#
# The rules are list(object(...)) with every attribute required, not `any`: Terraform 1.0 has
# no optional() attributes, and a typed object makes a misspelt attribute ("scope", "ttl") a
# type error at plan instead of a rule that silently grants more (an `any` value would pass
# unknown attributes straight to the origin, which refuses them at cold start, taking the
# whole registry down with it). So a rule spells out scopes ([] for every module) and
# ttl_secs.
#
# The validations repeat the origin's start-up checks (origin/src/auth/aws/rules.rs,
# origin/src/auth/oidc/config.rs, edge/src/scope.rs): a TFREG_AUTH_CONFIG the origin refuses
# stops it at every cold start, so every request would fail until the next apply.

variable "aws_trust_rules" {
  type = list(object({
    arn      = string
    tier     = string
    scopes   = list(string)
    ttl_secs = number
  }))
  description = "AWS identities that may exchange a signed sts:GetCallerIdentity for a registry token (POST /v1/auth/aws), tried in order; the first whose arn pattern matches grants. arn: a glob (* is any run of characters) over the ARN STS answers with; a role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) also matches as its role, arn:aws:iam::ACCOUNT:role/ROLE (without the role's path). tier: downloader, uploader or master. scopes: module prefixes the token is limited to (\"acme\", \"acme/network\", \"acme/network/aws\"); [] for every module. ttl_secs: the token's lifetime, 60-3600. Empty (the default): no AWS exchange."
  default     = []

  validation {
    condition     = alltrue([for rule in var.aws_trust_rules : can(regex("^arn:", rule.arn)) && length(rule.arn) <= 2048])
    error_message = "Each aws_trust_rules arn must be an ARN pattern starting with \"arn:\" (at most 2048 characters), such as arn:aws:iam::123456789012:role/ci-*."
  }

  # A * in the account field trusts every AWS account's identities of that name: anyone can
  # create a role called ci-deploy in their own account.
  validation {
    condition     = alltrue([for rule in var.aws_trust_rules : can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[^ ]+$", rule.arn))])
    error_message = "Each aws_trust_rules arn must name one account: arn:aws:iam::<12-digit account>:role/NAME (or :user/NAME, or arn:aws:sts::<account>:assumed-role/ROLE/SESSION), * allowed after the account. A * in the account field would trust the identities of every AWS account; write one rule per account."
  }

  validation {
    condition     = alltrue([for rule in var.aws_trust_rules : !can(regex(":role/.*/", rule.arn))])
    error_message = "An aws_trust_rules arn names a role with a path (arn:aws:iam::123456789012:role/team/ci): STS shows a role session without the role's path, so such a pattern never matches and the origin refuses it. Write the role as arn:aws:iam::123456789012:role/ci."
  }

  validation {
    condition     = alltrue([for rule in var.aws_trust_rules : contains(["downloader", "uploader", "master"], rule.tier)])
    error_message = "Each aws_trust_rules tier must be downloader, uploader or master (lowercase)."
  }

  validation {
    condition     = alltrue([for rule in var.aws_trust_rules : rule.ttl_secs >= 60 && rule.ttl_secs <= 3600 && floor(rule.ttl_secs) == rule.ttl_secs])
    error_message = "Each aws_trust_rules ttl_secs must be a whole number of seconds from 60 to 3600 (an exchanged token lives at most an hour)."
  }

  validation {
    condition     = alltrue([for rule in var.aws_trust_rules : length(rule.scopes) <= 16 && alltrue([for scope in rule.scopes : can(regex("^[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9]{1,64})?)?$", scope))])])
    error_message = "Each aws_trust_rules scope must be a module prefix on whole segments: namespace, namespace/name or namespace/name/system, lowercase (namespace and name: letters, digits, '-' or '_', starting with a letter or digit, up to 64 characters; system: 1-64 letters or digits), no '*' and no trailing '/'; at most 16 scopes a rule. [] grants every module."
  }
}

variable "aws_exchange_server_id" {
  type        = string
  description = "The value a caller of POST /v1/auth/aws must sign into its X-Tfreg-Server-Id header, so that a GetCallerIdentity request signed for another service cannot be replayed here (HashiCorp Vault's server ID). Default (null): domain_name. Without domain_name, set it to the distribution's domain name (the cloudfront_domain_name output, after a first apply without aws_trust_rules): the origin's settings cannot name the distribution they are deployed behind in the same apply (the distribution is created from the origin's Function URL), and the credentials helper signs only for a server ID that names the registry's host. Published in the discovery document (tfreg.auth.v1)."
  default     = null

  validation {
    condition     = var.aws_exchange_server_id == null || can(regex("^[!-~]{1,256}$", var.aws_exchange_server_id))
    error_message = "The aws_exchange_server_id must be 1-256 visible ASCII characters without spaces, such as the registry's host name."
  }
}

variable "aws_sts_endpoint" {
  type        = string
  description = "The STS endpoint the origin forwards signed GetCallerIdentity requests to, and the only URL callers may sign for. Default: the global endpoint, https://sts.amazonaws.com/ (signed for us-east-1). A regional endpoint (https://sts.eu-west-1.amazonaws.com/) keeps the call in one region; the credentials helper reads the endpoint from the discovery document and signs for its region. Not a VPC (PrivateLink) endpoint: the origin Lambda is not in a VPC."
  default     = "https://sts.amazonaws.com/"

  validation {
    condition     = can(regex("^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?/?$", var.aws_sts_endpoint))
    error_message = "The aws_sts_endpoint must be an https:// URL of an STS host, without path, query or credentials, such as https://sts.amazonaws.com/ or https://sts.eu-west-1.amazonaws.com/."
  }
}

variable "oidc_issuers" {
  type = list(object({
    issuer   = string
    audience = string
    rules = list(object({
      claims   = map(string)
      tier     = string
      scopes   = list(string)
      ttl_secs = number
    }))
  }))
  description = "OIDC issuers whose identity tokens may be exchanged for a registry token (POST /v1/auth/oidc): CI systems such as GitHub Actions (https://token.actions.githubusercontent.com) and GitLab CI (https://gitlab.com). issuer: exactly as tokens carry it in iss (https). audience: what tokens must carry in aud (the audience the CI job asks its token for; the registry's host name is the safe choice: the credentials helper hands a CI token only to a registry its audience names). rules, tried in order: claims (claim name -> glob, * any run of characters; all must match; at least one pattern other than *), tier, scopes, ttl_secs as in aws_trust_rules. Empty (the default): no OIDC exchange."
  default     = []

  validation {
    condition     = alltrue([for issuer in var.oidc_issuers : can(regex("^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$", issuer.issuer))])
    error_message = "Each oidc_issuers issuer must be an https:// URL without query, fragment or credentials, exactly as the issuer's tokens carry it in iss: https://token.actions.githubusercontent.com for GitHub Actions, https://gitlab.com (or your GitLab's URL) for GitLab CI."
  }

  validation {
    condition     = length(distinct([for issuer in var.oidc_issuers : issuer.issuer])) == length(var.oidc_issuers)
    error_message = "The oidc_issuers name an issuer twice: put all its rules in one entry."
  }

  validation {
    condition     = alltrue([for issuer in var.oidc_issuers : trimspace(issuer.audience) != ""])
    error_message = "Each oidc_issuers audience must be non-empty: the aud the CI's tokens are requested for, such as the registry's host name."
  }

  validation {
    condition     = alltrue([for issuer in var.oidc_issuers : length(issuer.rules) > 0])
    error_message = "Each oidc_issuers entry needs at least one rule (an issuer without rules admits no one; leave the issuer out instead)."
  }

  # A rule that constrains nothing trusts every token the issuer signs: for GitHub or
  # gitlab.com, every job of every repository in the world.
  validation {
    condition     = alltrue(flatten([for issuer in var.oidc_issuers : [for rule in issuer.rules : length(rule.claims) > 0 && anytrue([for pattern in values(rule.claims) : can(regex("[^*]", pattern))]) && alltrue([for name in keys(rule.claims) : trimspace(name) != ""])]]))
    error_message = "Each oidc_issuers rule's claims must constrain at least one claim with a pattern other than \"*\" (such as repository = \"acme/infra\" for GitHub, project_path = \"acme/infra\" for GitLab), and claim names must be non-empty: a rule without conditions would trust every token the issuer signs."
  }

  validation {
    condition     = alltrue(flatten([for issuer in var.oidc_issuers : [for rule in issuer.rules : contains(["downloader", "uploader", "master"], rule.tier)]]))
    error_message = "Each oidc_issuers rule's tier must be downloader, uploader or master (lowercase)."
  }

  validation {
    condition     = alltrue(flatten([for issuer in var.oidc_issuers : [for rule in issuer.rules : rule.ttl_secs >= 60 && rule.ttl_secs <= 3600 && floor(rule.ttl_secs) == rule.ttl_secs]]))
    error_message = "Each oidc_issuers rule's ttl_secs must be a whole number of seconds from 60 to 3600 (an exchanged token lives at most an hour)."
  }

  validation {
    condition     = alltrue(flatten([for issuer in var.oidc_issuers : [for rule in issuer.rules : length(rule.scopes) <= 16 && alltrue([for scope in rule.scopes : can(regex("^[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9][a-z0-9_-]{0,63}(/[a-z0-9]{1,64})?)?$", scope))])]]))
    error_message = "Each oidc_issuers rule's scope must be a module prefix on whole segments: namespace, namespace/name or namespace/name/system, lowercase (namespace and name: letters, digits, '-' or '_', starting with a letter or digit, up to 64 characters; system: 1-64 letters or digits), no '*' and no trailing '/'; at most 16 scopes a rule. [] grants every module."
  }
}

variable "waf_exchange_rate_limit" {
  type        = number
  description = "With waf_enabled and an exchange configured: POST /v1/auth/* requests one client IP may send in waf_rate_limit_window_seconds before WAF answers it 403 (a second rate-based rule, counting only exchange requests, beside the per-IP rule for everything). Each exchange makes the origin call STS or fetch an issuer's keys, and issues a token. A CI job exchanges once (the helper caches the token until shortly before it expires): count concurrent jobs behind one NAT address."
  default     = 300

  validation {
    condition     = var.waf_exchange_rate_limit >= 10 && var.waf_exchange_rate_limit <= 2000000000 && floor(var.waf_exchange_rate_limit) == var.waf_exchange_rate_limit
    error_message = "The waf_exchange_rate_limit must be a whole number from 10 (WAF's lowest rate limit) to 2000000000."
  }
}
