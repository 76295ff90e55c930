# The viewer-request Lambda@Edge function: the `edge` crate compiled to WebAssembly, loaded by a
# small Node.js handler (edge/js/index.mjs). It runs on every request to /v1/*, /archives/* and
# the default behaviour, cache hits included: bearer token -> tier (an LRU cache of DynamoDB
# lookups per container), HMAC check of signed archive URLs, route -> required tier. It adds
# x-tfreg-identity and, on /v1/* only, x-tfreg-origin-secret.
#
# Lambda@Edge has no environment variables, so its settings are baked into config.json in the
# bundle. `bash cloudfront/package.sh` leaves the unbaked bundle (index.mjs, edge.wasm) in
# dist/edge-bundle/; this module writes config.json beside copies of those two and zips the
# three. (archive_file's `source` blocks take text only, and edge.wasm is binary, so the files
# are staged with the local provider and zipped as a directory.) The staged directory and the
# zip hold the signing key and the origin secret: they are written under .terraform/ of the
# root module, with owner-only permissions where the provider allows.

locals {
  edge_config = {
    table                 = aws_dynamodb_table.tokens.name
    region                = local.region
    signing_key_hex       = local.signing_key
    origin_secret         = local.origin_secret
    positive_ttl_secs     = var.token_cache_ttl_seconds
    negative_ttl_secs     = var.negative_token_cache_ttl_seconds
    cache_capacity        = var.token_cache_capacity
    max_origin_body_bytes = 4194304
    dynamodb_endpoint     = null
  }

  edge_build_dir = "${path.root}/.terraform/tfreg-${var.name_prefix}-edge-bundle"
}

resource "local_file" "edge_handler" {
  filename        = "${local.edge_build_dir}/index.mjs"
  content         = file("${local.edge_bundle_dir}/index.mjs")
  file_permission = "0644"
}

resource "local_file" "edge_wasm" {
  filename        = "${local.edge_build_dir}/edge.wasm"
  content_base64  = filebase64("${local.edge_bundle_dir}/edge.wasm")
  file_permission = "0644"
}

resource "local_sensitive_file" "edge_config" {
  filename        = "${local.edge_build_dir}/config.json"
  content         = jsonencode(local.edge_config)
  file_permission = "0600"
}

data "archive_file" "edge" {
  type             = "zip"
  source_dir       = local.edge_build_dir
  output_path      = "${path.root}/.terraform/tfreg-${var.name_prefix}-edge.zip"
  output_file_mode = "0644"

  depends_on = [local_file.edge_handler, local_file.edge_wasm, local_sensitive_file.edge_config]
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
  description   = "tfreg viewer-request check: tokens, signed archive URLs (${var.name_prefix})"
  role          = aws_iam_role.edge.arn

  filename         = data.archive_file.edge.output_path
  source_code_hash = data.archive_file.edge.output_base64sha256
  runtime          = var.edge_runtime
  handler          = "index.handler"
  architectures    = ["x86_64"]
  memory_size      = 128
  timeout          = 5
  publish          = true

  tags = local.tags

  depends_on = [aws_iam_role_policy.edge, aws_cloudwatch_log_group.edge]
}
