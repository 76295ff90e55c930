# The optional WAF web ACL (waf_enabled, off by default): one rate-based rule that blocks a
# client IP sending more than waf_rate_limit requests in waf_rate_limit_window_seconds, and,
# with a token exchange configured, a second one for POST /v1/auth/* alone
# (waf_exchange_rate_limit). WAF inspects a request before the viewer-request function runs, so a blocked request costs no
# Lambda@Edge invocation and no DynamoDB read; but WAF charges for every request it inspects,
# blocked or not (README.md, "Abuse and cost"). A web ACL for CloudFront has scope CLOUDFRONT
# and lives in us-east-1
# (https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works.html).

resource "aws_wafv2_web_acl" "registry" {
  #checkov:skip=CKV2_AWS_31:WAF logging is left to the operator: it adds a log destination (Firehose, S3 or CloudWatch Logs) and its per-GB cost; the rule's CloudWatch metrics and sampled requests are on.
  #checkov:skip=CKV_AWS_192:No Java (Log4j) runs behind this distribution: the edge is Node.js with WebAssembly, the origin a Rust binary.
  count       = var.waf_enabled ? 1 : 0
  provider    = aws.us_east_1
  name        = "${var.name_prefix}-registry"
  description = "tfreg: rate limit per client IP (${var.name_prefix})"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        aggregate_key_type    = "IP"
        limit                 = var.waf_rate_limit
        evaluation_window_sec = var.waf_rate_limit_window_seconds
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-rate-limit-per-ip"
      sampled_requests_enabled   = true
    }
  }

  # With a token exchange configured, a tighter limit on POST /v1/auth/* alone: each exchange
  # request makes the origin call STS or an OIDC issuer and may issue a token, so it costs more
  # than a token-checked request, and it needs no token, so the edge cannot turn a flood away.
  # The rule counts only requests whose path starts with /v1/auth/ (the scope-down statement)
  # and inspects no body: exchange requests (a few KB of JSON) pass WAF untouched below the
  # limit.
  dynamic "rule" {
    for_each = local.exchanges_enabled ? [var.waf_exchange_rate_limit] : []
    content {
      name     = "rate-limit-exchanges-per-ip"
      priority = 1

      action {
        block {}
      }

      statement {
        rate_based_statement {
          aggregate_key_type    = "IP"
          limit                 = rule.value
          evaluation_window_sec = var.waf_rate_limit_window_seconds

          scope_down_statement {
            byte_match_statement {
              positional_constraint = "STARTS_WITH"
              search_string         = "/v1/auth/"
              field_to_match {
                uri_path {}
              }
              text_transformation {
                priority = 0
                type     = "NONE"
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${var.name_prefix}-rate-limit-exchanges-per-ip"
        sampled_requests_enabled   = true
      }
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name_prefix}-registry"
    sampled_requests_enabled   = true
  }

  tags = local.tags
}
