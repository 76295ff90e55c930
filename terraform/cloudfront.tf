# The distribution. Behaviours, in CloudFront's order of evaluation:
#   /.well-known/*  S3, long cache, NO function: discovery costs no compute.
#   /openapi.json   S3, the same: the API's OpenAPI document, public.
#   /ui/*           S3, the same: the web page's static files (web.tf), public, with its CSP.
#                   ("*" matches zero or more characters, so /ui/ itself is covered: S3 key ui/.)
#   /v1/*           the origin Lambda (Function URL), viewer-request check; answers cached up to
#                   60 s when the origin says so (s-maxage=30 on versions/download, no-store on
#                   tokens), keyed on the path and the whole query string, which reaches the
#                   origin (search, pagination, upload options, the mirror's signed package
#                   URLs); writes are never cached (only GET/HEAD are).
#   /archives/*     S3, long cache keyed on the path only (the signature is left out of the key),
#                   NO function: CloudFront checks the signed URL itself (a trusted key group).
#   default         S3 with the viewer-request check: the bucket policy lets CloudFront read only
#                   archives/, .well-known/, openapi.json and ui/, so anything else is refused.

locals {
  s3_origin_id     = "s3-archives"
  lambda_origin_id = "origin-lambda"

  # https://<id>.lambda-url.<region>.on.aws/ -> <id>.lambda-url.<region>.on.aws
  origin_url_host = split("/", aws_lambda_function_url.origin.function_url)[2]

  # The 4xx and 5xx codes whose error caching a distribution can set (416 aside: CloudFront
  # never caches it).
  uncached_error_codes = [400, 403, 404, 405, 414, 500, 501, 502, 503, 504]
}

# The public half of the archive URL signing key (secrets.tf), in the key group the /archives/*
# behaviour trusts.
resource "aws_cloudfront_public_key" "archives" {
  name        = "${var.name_prefix}-archives"
  comment     = "tfreg: signs archive URLs (the origin holds the private key)"
  encoded_key = tls_private_key.url_signing.public_key_pem
}

resource "aws_cloudfront_key_group" "archives" {
  name    = "${var.name_prefix}-archives"
  comment = "tfreg: the keys whose signed URLs /archives/* admits"
  items   = [aws_cloudfront_public_key.archives.id]
}

# Security headers on every answer: HSTS (the registry is HTTPS-only), nosniff, no framing, no
# referrer.
resource "aws_cloudfront_response_headers_policy" "security" {
  name    = "${var.name_prefix}-security-headers"
  comment = "tfreg: security headers on every answer"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
  }
}

resource "aws_cloudfront_origin_access_control" "archives" {
  name                              = "${var.name_prefix}-archives"
  description                       = "tfreg: CloudFront reads the archive bucket (${var.name_prefix})"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Discovery and archives: immutable or nearly so, cached long, keyed on the path alone. The
# query string (expires, signature, checksum) stays out of the key so that one cached copy
# serves every signed URL of an archive; the viewer-request check has already verified it.
resource "aws_cloudfront_cache_policy" "static" {
  name        = "${var.name_prefix}-static"
  comment     = "tfreg: discovery and archives, keyed on the path only"
  min_ttl     = 0
  default_ttl = 86400
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# The API: cached only as long as the origin allows (s-maxage) and never over a minute, keyed on
# the path and every query string. The origin reads the query (GET /v1/modules/search?q=..,
# ?offset=..&limit=.. pagination, an upload's publish options, the Expires/Key-Pair-Id/Signature
# of the provider mirror's signed package URL), and "all" both keys on it and forwards it
# (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CachePolicyQueryStringsConfig.html:
# "All query strings in viewer requests are included in the cache key and in requests that
# CloudFront sends to the origin"), so two searches are never one cached answer. Answers do not
# depend on who asked: the edge has checked every viewer before the cache, so neither
# Authorization nor the identity header belongs in the key. gzip and Brotli are on because
# CloudFront compresses (the behaviour's compress = true) only when the cache policy lets the
# viewer's Accept-Encoding in: with both off it serves every JSON answer uncompressed
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/ServingCompressedFiles.html).
resource "aws_cloudfront_cache_policy" "api" {
  name        = "${var.name_prefix}-api"
  comment     = "tfreg: registry API, origin-controlled TTL up to 60 s, keyed on the path and query string (and the normalized Accept-Encoding)"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = 60

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    # In the key and forwarded to the origin: what the origin reads from the query.
    query_strings_config {
      query_string_behavior = "all"
    }
  }
}

# What the origin needs beyond the cache key: the two headers the edge function adds (CloudFront
# forwards a header a viewer-request function added only if a policy names it) and the upload's
# content type. Not Authorization: the edge has checked it, and the origin trusts
# x-tfreg-identity (guarded by x-tfreg-origin-secret) instead. Not Host: a Function URL answers
# only to its own host name. The query string reaches the origin through the cache policy (it
# is in the key); "all" here says the same, so that neither policy alone drops it.
resource "aws_cloudfront_origin_request_policy" "api" {
  name    = "${var.name_prefix}-api"
  comment = "tfreg: forward the edge's identity and origin-secret headers to the origin Lambda"

  cookies_config {
    cookie_behavior = "none"
  }
  headers_config {
    header_behavior = "whitelist"
    headers {
      items = ["x-tfreg-identity", "x-tfreg-origin-secret", "content-type"]
    }
  }
  query_strings_config {
    query_string_behavior = "all"
  }
}

resource "aws_cloudfront_distribution" "registry" {
  #checkov:skip=CKV_AWS_68:WAF is optional (waf_enabled, or web_acl_id for one's own): a web ACL costs a monthly fee plus a per-request charge comparable to the edge function's, and every request is already checked by the viewer-request function.
  #checkov:skip=CKV2_AWS_47:WAF is optional (waf_enabled or web_acl_id); no Java (Log4j) runs behind this distribution.
  #checkov:skip=CKV_AWS_86:Access logging is optional (access_log_bucket_domain_name); it needs a bucket with ACLs enabled that this module does not assume.
  #checkov:skip=CKV_AWS_310:No failover origin: the origin Lambda is regional and has no second copy to fail over to; S3 is regional as well.
  #checkov:skip=CKV_AWS_305:No default root object: the registry has nothing to serve at /.
  #checkov:skip=CKV_AWS_174:With a custom domain the minimum protocol is TLSv1.2_2021; on the default *.cloudfront.net certificate CloudFront fixes it at TLSv1 and accepts no other value.
  #checkov:skip=CKV_AWS_374:No geo restriction: every request already needs a valid token or archive signature, and teams run terraform init from wherever their CI runs.
  #checkov:skip=CKV2_AWS_42:The custom certificate is optional (domain_name + certificate_arn); without it the registry uses the *.cloudfront.net name and certificate.
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "tfreg private Terraform module registry (${var.name_prefix})"
  price_class     = var.price_class
  aliases         = local.custom_domain ? [var.domain_name] : []
  web_acl_id      = local.web_acl_id # main.tf: waf_enabled's web ACL, or web_acl_id

  origin {
    origin_id                = local.s3_origin_id
    domain_name              = aws_s3_bucket.archives.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.archives.id
  }

  origin {
    origin_id   = local.lambda_origin_id
    domain_name = local.origin_url_host

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = local.origin_read_timeout # main.tf: >= the function's timeout
      origin_keepalive_timeout = 5
    }
  }

  # Discovery: a static object, no function.
  ordered_cache_behavior {
    path_pattern               = "/.well-known/*"
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.static.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  # The OpenAPI document: public, static, no function, like discovery.
  ordered_cache_behavior {
    path_pattern               = "/openapi.json"
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.static.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  # The web page: public static files, no function (it holds no data; what it shows comes
  # from /v1 with the reader's token). Revalidated on every use (no-cache on the objects).
  ordered_cache_behavior {
    path_pattern               = "/ui/*"
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.static.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.page.id
  }

  # The registry API: token check at the edge, then the origin Lambda.
  ordered_cache_behavior {
    path_pattern               = "/v1/*"
    target_origin_id           = local.lambda_origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.api.id
    origin_request_policy_id   = aws_cloudfront_origin_request_policy.api.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

    lambda_function_association {
      event_type   = "viewer-request"
      lambda_arn   = aws_lambda_function.edge.qualified_arn
      include_body = false
    }
  }

  # Archives: CloudFront itself checks the signed URL (canned policy, Expires, Signature,
  # Key-Pair-Id) against the trusted key group, with no function: Terraform's HEAD and GET of
  # each archive cost no Lambda@Edge invocation and no cold start. The object comes from S3
  # or the cache.
  ordered_cache_behavior {
    path_pattern               = "/archives/*"
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.static.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    trusted_key_groups         = [aws_cloudfront_key_group.archives.id]
  }

  # Anything else: the edge answers unknown routes itself; S3 refuses what the bucket policy
  # does not open to CloudFront.
  default_cache_behavior {
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.static.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

    lambda_function_association {
      event_type   = "viewer-request"
      lambda_arn   = aws_lambda_function.edge.qualified_arn
      include_body = false
    }
  }

  # Error answers are not cached beyond what the origin says. By default CloudFront caches a
  # 4xx or 5xx answer from an origin for 10 seconds
  # (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/custom-error-pages-expiration.html):
  # a module version published just after a 404 for it, an archive uploaded after a miss, or a
  # recovered origin would stay hidden behind the cached error. These blocks set the minimum to
  # 0 for every code CloudFront caches and lets one configure, and change nothing else: no
  # error page, the origin's own status and body. (401 is not among them: CloudFront does not
  # cache it. The answers the edge function itself generates are never cached.)
  dynamic "custom_error_response" {
    for_each = local.uncached_error_codes
    content {
      error_code            = custom_error_response.value
      error_caching_min_ttl = 0
    }
  }

  dynamic "logging_config" {
    for_each = var.access_log_bucket_domain_name == null ? [] : [var.access_log_bucket_domain_name]
    content {
      bucket          = logging_config.value
      include_cookies = false
      prefix          = "${var.name_prefix}/"
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.custom_domain
    acm_certificate_arn            = local.custom_domain ? var.certificate_arn : null
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    minimum_protocol_version       = local.custom_domain ? "TLSv1.2_2021" : "TLSv1"
  }

  tags = local.tags
}
