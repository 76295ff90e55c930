# The registry's web page: the static files of web/ (whatever is there), published under ui/
# and served by CloudFront from S3 through Origin Access Control, with no function in the way.
# The page is public and holds no data: everything it shows comes from /v1 with the reader's
# token. `GET /` is the registry's redirect to /ui/.

locals {
  page_prefix = "ui/"
  page_files  = fileset(path.module, "web/*")

  # By file extension. A file whose extension is not here fails the plan ("Invalid index" on
  # aws_s3_object.page's content_type: add the extension here) rather than being served with a
  # type the browser is told not to guess (nosniff). No precondition: that needs Terraform 1.2.
  page_content_types = {
    html  = "text/html; charset=utf-8"
    js    = "text/javascript; charset=utf-8"
    mjs   = "text/javascript; charset=utf-8"
    css   = "text/css; charset=utf-8"
    json  = "application/json"
    svg   = "image/svg+xml"
    png   = "image/png"
    ico   = "image/x-icon"
    txt   = "text/plain; charset=utf-8"
    woff2 = "font/woff2"
  }

  # The page's Content-Security-Policy, in one place, the same as `tfreg serve` sends
  # (cloudfront/src/page.rs): scripts, styles and API calls from this host only, no inline
  # script or style, no plugins, no <base>, no framing, no form posts.
  page_content_security_policy = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
}

# One object per file, at ui/{file}. `no-cache`: browsers and CloudFront revalidate (ETag), so
# a new page is seen at once; the files are small.
resource "aws_s3_object" "page" {
  for_each = local.page_files

  bucket        = aws_s3_bucket.archives.id
  key           = "${local.page_prefix}${basename(each.value)}"
  source        = "${path.module}/${each.value}"
  content_type  = local.page_content_types[lower(reverse(split(".", each.value))[0])]
  cache_control = "no-cache"
  etag          = filemd5("${path.module}/${each.value}")
  tags          = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.archives]
}

# The page itself at the key ui/: a viewer asking for /ui/ makes CloudFront ask S3 for exactly
# that key (S3 has no index documents through its REST endpoint).
resource "aws_s3_object" "page_index" {
  bucket        = aws_s3_bucket.archives.id
  key           = local.page_prefix
  source        = "${path.module}/web/index.html"
  content_type  = local.page_content_types["html"]
  cache_control = "no-cache"
  etag          = filemd5("${path.module}/web/index.html")
  tags          = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.archives]
}

# The security headers of every other answer (cloudfront.tf), plus the page's CSP.
resource "aws_cloudfront_response_headers_policy" "page" {
  name    = "${var.name_prefix}-page-headers"
  comment = "tfreg: security headers and the Content-Security-Policy of the web page"

  security_headers_config {
    content_security_policy {
      content_security_policy = local.page_content_security_policy
      override                = true
    }
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
