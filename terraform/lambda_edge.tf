# The viewer-request Lambda@Edge function: the `edge` crate compiled to WebAssembly, loaded by a
# small Node.js handler (edge/js/index.mjs). It runs on every request to /v1/* and the default
# behaviour, cache hits included: bearer token -> tier (an LRU cache of DynamoDB lookups per
# container), route -> required tier. It adds x-tfreg-identity and, on /v1/* only,
# x-tfreg-origin-secret. Not on /archives/*: CloudFront checks the signed archive URLs itself
# (the trusted key group, cloudfront.tf).
#
# Lambda@Edge has no environment variables, so its settings are baked into config.json in the
# bundle. `bash cloudfront/package.sh` leaves the unbaked bundle (index.mjs, edge.wasm) in
# dist/edge-bundle/; this module adds config.json and zips the three.
#
# Plans that settle. The function's source_code_hash is computed from the inputs alone (the
# SHA-256 of index.mjs, of edge.wasm and of the rendered config.json), so it is known when
# planning, on any runner, whether or not a zip was ever written there: an unchanged bundle
# plans no change to the function, its version or the distribution. The zip is written only
# when that hash changes, at apply, by scripts/build-edge-zip.sh (a null_resource keyed on the
# hash), and removed once the function has it. Not archive_file: its `source` blocks take text
# only (https://github.com/hashicorp/terraform-provider-archive/issues/149), and edge.wasm is
# binary, so it would need the files staged on disk by managed resources first, and those are
# missing (so planned again, and the hash unknown) on every fresh runner.
#
# Secrets on disk. config.json holds the origin secret. The script stages
# the files in a private temporary directory it deletes, writes the zip owner-only (0600) under
# the root module's .terraform/, and the zip is deleted after the function is updated.

locals {
  edge_config = {
    table                 = aws_dynamodb_table.tokens.name
    region                = local.region
    origin_secret         = local.origin_secret
    positive_ttl_secs     = var.token_cache_ttl_seconds
    negative_ttl_secs     = var.negative_token_cache_ttl_seconds
    cache_capacity        = var.token_cache_capacity
    max_origin_body_bytes = 4194304
    dynamodb_endpoint     = null
  }
  edge_config_json = jsonencode(local.edge_config)

  edge_index_sha256 = filesha256("${local.edge_bundle_dir}/index.mjs")
  edge_wasm_sha256  = filesha256("${local.edge_bundle_dir}/edge.wasm")

  # One line per file of the zip, its name and the SHA-256 of its bytes; source_code_hash is
  # the SHA-256 of those lines. config.json's hash is shown in plans (nonsensitive): it is a hash
  # over a random secret of about 285 bits (the origin secret), which it does not reveal.
  edge_bundle_manifest = join("\n", [
    "config.json ${nonsensitive(sha256(local.edge_config_json))}",
    "edge.wasm ${local.edge_wasm_sha256}",
    "index.mjs ${local.edge_index_sha256}",
  ])
  edge_source_code_hash = base64sha256(local.edge_bundle_manifest)

  # Relative to the root module, so that every runner plans the same path.
  edge_zip_path = "${path.root}/.terraform/tfreg-${var.name_prefix}-edge.zip"
}

# Writes the zip when the bundle's hash changes (and for a new function name), before the
# function is created or updated. Needs /bin/sh and python3 (or zip and sha256sum) on the
# machine that applies, as cloudfront/package.sh does.
resource "null_resource" "edge_zip" {
  triggers = {
    source_code_hash = local.edge_source_code_hash
    function_name    = local.edge_function_name
    zip              = local.edge_zip_path
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh"]
    command     = "${path.module}/scripts/build-edge-zip.sh"
    environment = {
      TFREG_EDGE_BUNDLE_DIR   = local.edge_bundle_dir
      TFREG_EDGE_INDEX_SHA256 = local.edge_index_sha256
      TFREG_EDGE_WASM_SHA256  = local.edge_wasm_sha256
      TFREG_EDGE_CONFIG_JSON  = local.edge_config_json
      TFREG_EDGE_ZIP          = local.edge_zip_path
    }
  }
}

# Deletes the zip once the function has it: nothing with the secrets in it stays on disk.
resource "null_resource" "edge_zip_removed" {
  triggers = null_resource.edge_zip.triggers

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = "rm -f -- \"$TFREG_EDGE_ZIP\""
    environment = {
      TFREG_EDGE_ZIP = local.edge_zip_path
    }
  }

  depends_on = [aws_lambda_function.edge]
}

data "aws_iam_policy_document" "edge_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "edge" {
  name               = local.edge_function_name
  description        = "tfreg viewer-request Lambda@Edge (${var.name_prefix})"
  assume_role_policy = data.aws_iam_policy_document.edge_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "edge" {
  # The one lookup the check cannot do itself: a token's item, by the hash of the token.
  statement {
    sid       = "LookUpTokens"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.tokens.arn]
  }

  # Lambda@Edge logs in the region where each replica runs, to /aws/lambda/us-east-1.<name>.
  statement {
    sid     = "LogsInEveryRegion"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "arn:${local.partition}:logs:*:${local.account_id}:log-group:/aws/lambda/us-east-1.${local.edge_function_name}",
      "arn:${local.partition}:logs:*:${local.account_id}:log-group:/aws/lambda/us-east-1.${local.edge_function_name}:*",
    ]
  }
}

resource "aws_iam_role_policy" "edge" {
  name   = "viewer-check"
  role   = aws_iam_role.edge.id
  policy = data.aws_iam_policy_document.edge.json
}

# The replicas' log group in us-east-1; in other regions Lambda@Edge creates them on first use
# (without retention: set it there by hand or with a policy if it matters).
resource "aws_cloudwatch_log_group" "edge" {
  #checkov:skip=CKV_AWS_158:Encrypted by CloudWatch Logs with its service key; the edge function logs decisions, never token values or keys.
  #checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, 30 days by default): request logs of a package registry, not an audit trail.
  provider          = aws.us_east_1
  name              = "/aws/lambda/us-east-1.${local.edge_function_name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_lambda_function" "edge" {
  #checkov:skip=CKV_AWS_117:Lambda@Edge cannot run in a VPC.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by CloudFront; a dead-letter queue applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_115:Lambda@Edge replicas share the regional concurrency of each region they run in (CloudFront's Lambda@Edge restrictions); a reservation on the us-east-1 function is not documented to bound them, and throttling the viewer check would fail viewers, not save cost.
  #checkov:skip=CKV_AWS_173:Lambda@Edge has no environment variables; its settings are in the bundle.
  #checkov:skip=CKV_AWS_272:The bundle is assembled by this module at deploy time (config.json baked in), so it cannot carry a signature made at build time.
  #checkov:skip=CKV_AWS_50:Left off: CloudFront's Lambda@Edge guide documents no X-Ray support for replicas, and the function's work is one in-memory decision plus at most one GetItem, logged per request.
  provider      = aws.us_east_1
  function_name = local.edge_function_name
  description   = "tfreg viewer-request check: tokens and tiers (${var.name_prefix})"
  role          = aws_iam_role.edge.arn

  filename         = local.edge_zip_path
  source_code_hash = local.edge_source_code_hash
  runtime          = var.edge_runtime
  handler          = "index.handler"
  architectures    = ["x86_64"]
  memory_size      = 128
  timeout          = 5
  publish          = true

  # CloudFront keeps replicas of a Lambda@Edge function for hours after the distribution stops
  # using it, and the function cannot be deleted until they are gone
  # (https://github.com/hashicorp/terraform-provider-aws/issues/1721). So a destroy only
  # forgets it (README.md, "Destroy and clean-up", deletes it later), and a replacement (a new
  # name) creates the new function and moves the distribution to it before the old one is
  # forgotten.
  skip_destroy = true

  lifecycle {
    create_before_destroy = true
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.edge, aws_cloudwatch_log_group.edge, null_resource.edge_zip]
}
