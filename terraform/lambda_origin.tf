# The origin Lambda: the registry API (/v1/*), Rust on provided.al2023, behind a Function URL.
#
# The Function URL has auth type NONE and is guarded by a secret header, x-tfreg-origin-secret,
# that only the edge function adds (it strips any copy a viewer sends) and the origin compares
# in constant time. Not Origin Access Control: OAC signs with SigV4, which makes viewers send
# x-amz-content-sha256 on PUT/POST (curl and Terraform do not) and takes the Authorization
# header. Anything reaching the URL without the secret gets a 403 from the origin.

data "aws_iam_policy_document" "origin_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "origin" {
  name               = local.origin_function_name
  description        = "tfreg origin Lambda (${var.name_prefix})"
  assume_role_policy = data.aws_iam_policy_document.origin_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "origin" {
  # Archives and indexes are read and written (conditional PutObject), including the proxy's
  # cache under archives/_proxy/; staged large uploads are read, written by the viewer through a
  # presigned PUT signed with this role, and deleted once finalized.
  # Provider releases: the files under archives/_providers/ (a losing publisher's deleted by
  # DeleteUnpinnedArchives below), the release records (written once, with If-None-Match) and
  # the namespaces' signing keys. The provider mirror (main.tf, provider_mirror_prefix): a
  # fetched package's zip, then its package.json record (If-None-Match: *), read back for the
  # mirror's answers. archives/* covers them already; they are named on their own so that
  # what the mirror needs stays visible and tested, and stays granted if that grant narrows.
  statement {
    sid     = "ReadWriteArchivesAndStaging"
    actions = ["s3:GetObject", "s3:PutObject"]
    resources = [
      "${aws_s3_bucket.archives.arn}/${local.archive_prefix}*",
      "${aws_s3_bucket.archives.arn}/${local.staging_prefix}*",
      "${aws_s3_bucket.archives.arn}/${local.provider_records_prefix}*",
      "${aws_s3_bucket.archives.arn}/${local.provider_keys_prefix}*",
      "${aws_s3_bucket.archives.arn}/${local.provider_mirror_prefix}*",
    ]
  }

  statement {
    sid       = "DeleteFinalizedStagedUploads"
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.archives.arn}/${local.staging_prefix}*"]
  }

  # DELETE /v1/provider-keys/{ns}/{key_id} (master tier). Release records are never deleted.
  statement {
    sid       = "DeleteRemovedProviderKeys"
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.archives.arn}/${local.provider_keys_prefix}*"]
  }

  # Unpinning (DELETE /v1/pins/..., master tier) deletes the pinned version's objects under
  # archives/{ns}/{name}/{system}/{version}/, and a provider publisher that lost a race deletes
  # its own attempt's files under archives/_providers/ (no record names them). The registry
  # deletes nothing else under archives/: uploaded versions are immutable, the provider
  # mirror's packages under archives/_mirror/ are kept, and the proxy cache under
  # archives/_proxy/ is expired by the bucket's lifecycle (s3.tf). IAM cannot tell a pinned
  # archive from an uploaded one by its key, so the grant covers archives/; with versioning
  # on, a deleted object stays restorable for noncurrent_version_expiration_days.
  statement {
    sid       = "DeleteUnpinnedArchives"
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.archives.arn}/${local.archive_prefix}*"]
  }

  # Listing rebuilds a module's versions.json (ListObjectsV2 with a prefix under archives/).
  # ListBucket is also what makes S3 answer 404 rather than 403 for a missing object
  # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html), and the origin tells
  # a missing index, archive or staged upload by that 404. For that check S3 puts the requested
  # key in s3:prefix (Ceph's RGW copies the behaviour: https://github.com/ceph/ceph/pull/68577),
  # so a grant limited to archives/ and staging/ keys covers it. StringLike, not
  # StringLikeIfExists: a listing without a prefix (the whole bucket) has no s3:prefix and is
  # refused.
  statement {
    sid       = "ListArchivesAndStaging"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archives.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.archive_prefix}*",
        "${local.staging_prefix}*",
        # A provider's releases and a namespace's keys are listed by prefix.
        "${local.provider_records_prefix}*",
        "${local.provider_keys_prefix}*",
        # The mirror lists archives/_mirror/{host}/{ns}/{type}/ for a provider's packages.
        "${local.provider_mirror_prefix}*",
      ]
    }
  }

  # Token create/list/revoke, and pin records (items with pk "pin#ns/name/system/version":
  # PutItem to pin, GetItem, DeleteItem to unpin, Scan for GET /v1/pins). TransactWriteItems
  # needs no action of its own: IAM authorises each Put/Delete inside it as
  # dynamodb:PutItem/DeleteItem and each ConditionCheck as dynamodb:ConditionCheckItem
  # (DynamoDB Developer Guide, "Using IAM with DynamoDB transactions").
  statement {
    sid = "TokensAndPins"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:Scan",
    ]
    resources = [aws_dynamodb_table.tokens.arn]
  }

  # The token exchanges (POST /v1/auth/aws, /v1/auth/oidc; auth.tf) add nothing here: the AWS
  # exchange forwards the caller's own signed sts:GetCallerIdentity request over HTTPS (STS
  # checks the caller's signature, never this role's), the OIDC exchange fetches an issuer's
  # public keys over HTTPS, and the token either issues is a token-table item written with the
  # PutItem/ConditionCheckItem above. No sts:* action, on purpose.
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.origin.arn}:*"]
  }

  # The archive URL signing key (secrets.tf), read once per container at cold start.
  statement {
    sid       = "ReadUrlSigningKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.url_signing.arn]
  }
}

resource "aws_iam_role_policy" "origin" {
  name   = "registry"
  role   = aws_iam_role.origin.id
  policy = data.aws_iam_policy_document.origin.json
}

resource "aws_cloudwatch_log_group" "origin" {
  #checkov:skip=CKV_AWS_158:Encrypted by CloudWatch Logs with its service key; the origin logs no secrets (token values and the origin secret never reach a log line).
  #checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, 30 days by default): request logs of a package registry, not an audit trail; set 365 or more where policy asks for it.
  name              = "/aws/lambda/${local.origin_function_name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

# The origin's settings, as environment variables (origin/src/lambda/config.rs reads them).
locals {
  # Everything but the two secrets. The bucket by its configured name (known when planning),
  # not its id (known once created).
  origin_settings = {
    TFREG_S3_BUCKET       = aws_s3_bucket.archives.bucket
    TFREG_S3_PREFIX       = local.archive_prefix
    TFREG_DYNAMODB_TABLE  = aws_dynamodb_table.tokens.name
    TFREG_ARCHIVE_URL_TTL = tostring(var.archive_url_ttl_seconds)
    # The staged (large) upload's limit; the presigned PUT itself cannot carry one.
    TFREG_MAX_STAGED_UPLOAD_BYTES = tostring(var.max_upload_bytes)
    # One attempt's answer timeout for S3 and DynamoDB (the SDK sets none of its own).
    TFREG_STORAGE_TIMEOUT = tostring(var.storage_timeout_seconds)
    # Proxy and pinning (variables.tf; the same settings as `tfreg serve`'s flags).
    TFREG_PROXY_ENABLED            = tostring(var.proxy_enabled)
    TFREG_PROXY_UPSTREAM           = var.proxy_upstream_url
    TFREG_PROXY_GITHUB_ARCHIVE_URL = var.proxy_github_archive_url
    TFREG_PROXY_ALLOW_LIST         = join(",", local.proxy_allow_list)
    TFREG_PROXY_DENY_LIST          = join(",", local.proxy_deny_list)
    TFREG_PROXY_LOCAL_ONLY         = join(",", local.proxy_local_only)
    TFREG_PROXY_TIMEOUT_SECS       = tostring(var.proxy_timeout_seconds)
    TFREG_PROXY_MAX_ARCHIVE_BYTES  = tostring(var.proxy_max_archive_bytes)
    TFREG_PROXY_MERGE_LIST         = join(",", var.proxy_merge_list)
    TFREG_PROXY_CA_BUNDLE          = var.proxy_ca_bundle_pem
  }

  # The provider mirror (variables.tf, "Provider mirror"; origin/src/mirror/mod.rs reads them),
  # only with an upstream: without TFREG_PROVIDER_MIRROR_UPSTREAMS the mirror is off and
  # /v1/mirror/ answers 404, and the other settings would only take room from the 4 KB below.
  # An empty list becomes "", which the origin reads as unset (the download hosts' default:
  # releases.hashicorp.com with registry.terraform.io). It trusts proxy_ca_bundle_pem too.
  origin_mirror_settings = local.provider_mirror_enabled ? {
    TFREG_PROVIDER_MIRROR_UPSTREAMS         = join(",", var.provider_mirror_upstreams)
    TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS    = join(",", var.provider_mirror_download_hosts)
    TFREG_PROVIDER_MIRROR_ALLOW_LIST        = join(",", var.provider_mirror_allow_list)
    TFREG_PROVIDER_MIRROR_DENY_LIST         = join(",", var.provider_mirror_deny_list)
    TFREG_PROVIDER_MIRROR_TIMEOUT_SECS      = tostring(var.provider_mirror_timeout_seconds)
    TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES = tostring(var.provider_mirror_max_package_bytes)
  } : {}

  origin_secrets = {
    TFREG_ORIGIN_SECRET = local.origin_secret
    # Not the key itself: the secret holding it (secrets.tf), which the origin reads at start.
    TFREG_URL_SIGNING_SECRET = aws_secretsmanager_secret.url_signing.arn
  }

  # TFREG_AUTH_CONFIG (auth.tf) only when an exchange has rules, TFREG_PROVIDER_MIRROR_* only
  # with a mirror upstream.
  origin_environment = merge(local.origin_settings, local.origin_auth_settings, local.origin_mirror_settings, local.origin_secrets)

  # Lambda refuses a function whose environment variables exceed 4 KB in all
  # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), and the proxy
  # and provider mirror lists are the operator's to make long. The plan measures them as JSON
  # (names, values, quotes and separators: no less than Lambda counts), with the origin secret
  # and the signing secret's ARN, which are unknown until their first apply, counted by their
  # longest lengths (an ARN of a secret:
  # arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 chars>). TFREG_AUTH_CONFIG is
  # JSON inside JSON here, each of its quotes counted twice: the exchanges' rules share the
  # 4 KB with those lists. A precondition would need Terraform 1.2, so this fails the plan the
  # way the checks in main.tf do.
  origin_environment_bytes = length(jsonencode(merge(local.origin_settings, local.origin_auth_settings, local.origin_mirror_settings, {
    TFREG_ORIGIN_SECRET      = format("%${random_password.origin_secret.length}s", "")
    TFREG_URL_SIGNING_SECRET = format("%${local.url_signing_secret_arn_length}s", "")
  })))
  origin_environment_check = local.origin_environment_bytes <= 4096 ? "ok" : file(
    "ERROR: the origin Lambda's environment variables exceed Lambda's 4 KB: shorten aws_trust_rules, oidc_issuers, proxy_allow_list, proxy_deny_list, proxy_local_only, proxy_merge_list, proxy_ca_bundle_pem, provider_mirror_upstreams, provider_mirror_download_hosts, provider_mirror_allow_list or provider_mirror_deny_list"
  )
}

resource "aws_lambda_function" "origin" {
  #checkov:skip=CKV_AWS_117:No VPC: the function reaches S3 and DynamoDB over their public endpoints with IAM and, with the proxy or pinning, the upstream registry and GitHub's archive host over HTTPS, with the provider mirror its upstream registries and release hosts over HTTPS, and with token exchanges STS and the OIDC issuers over HTTPS; in a VPC it would need a NAT gateway for those.
  #checkov:skip=CKV_AWS_116:Invoked synchronously through its Function URL only; a dead-letter queue applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_173:Environment variables are encrypted at rest by Lambda with its service key; the origin secret is also in Terraform state and the edge bundle, which a customer-managed key would not change.
  #checkov:skip=CKV_AWS_272:The artifact is built and deployed by this module from dist/origin.zip; code signing needs a signing profile and a signed S3 object this flow does not have.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (origin_reserved_concurrency), unreserved by default so that a small account's concurrency pool is not split.
  function_name = local.origin_function_name
  description   = "tfreg origin: registry API behind CloudFront (${var.name_prefix})"
  role          = aws_iam_role.origin.arn

  filename         = local.origin_zip_path
  source_code_hash = filebase64sha256(local.origin_zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  memory_size      = var.origin_memory_mb
  timeout          = var.origin_timeout_seconds

  # /tmp: a mirrored provider package lies there while it is checked, a staged upload while it
  # is validated (main.tf checks the mirror's package limit against it).
  ephemeral_storage {
    size = var.origin_ephemeral_storage_mb
  }

  reserved_concurrent_executions = var.origin_reserved_concurrency

  tracing_config {
    mode = "PassThrough"
  }

  environment {
    variables = local.origin_environment
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.origin, aws_cloudwatch_log_group.origin]
}

resource "aws_lambda_function_url" "origin" {
  #checkov:skip=CKV_AWS_258:Auth type NONE on purpose: the edge function adds x-tfreg-origin-secret, which the origin requires (403 without it). AWS_IAM would mean CloudFront OAC, which requires viewers to send x-amz-content-sha256 on PUT/POST (curl does not) and reserves the Authorization header.
  function_name      = aws_lambda_function.origin.function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

# A Function URL with auth type NONE answers only if the resource policy lets anyone invoke it
# through the URL: lambda:InvokeFunctionUrl for auth type NONE, and (for URLs created since
# October 2025) lambda:InvokeFunction limited to invocations through a Function URL. Neither
# lets a caller use the Invoke API directly.
resource "aws_lambda_permission" "origin_url" {
  #checkov:skip=CKV_AWS_301:Public through its Function URL only (function_url_auth_type NONE) by design; requests without the edge's x-tfreg-origin-secret are refused by the origin.
  statement_id           = "tfreg-function-url-public"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.origin.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "origin_url_invoke" {
  #checkov:skip=CKV_AWS_301:Limited to invocations through the Function URL (invoked_via_function_url); requests without the edge's x-tfreg-origin-secret are refused by the origin.
  statement_id             = "tfreg-function-url-invoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.origin.function_name
  principal                = "*"
  invoked_via_function_url = true
}
