# The archive bucket: module archives under archives/ (uploads and pins; the proxy's cache of
# public modules under archives/_proxy/; provider releases under archives/_providers/ and the
# provider mirror's packages under archives/_mirror/), large uploads staged under staging/,
# the discovery document under .well-known/, the OpenAPI document, and the web page under
# ui/. Private; CloudFront reads all but staging/ through Origin Access Control, the origin
# Lambda's role does the rest.

resource "aws_s3_bucket" "archives" {
  #checkov:skip=CKV_AWS_18:Server access logs would record only CloudFront's and the origin Lambda's reads and writes; viewers are logged at CloudFront (access_log_bucket_domain_name) and the origin in CloudWatch.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage and PUT cost; archives are rebuilt from CI and the bucket keeps versions (s3_versioning_enabled).
  #checkov:skip=CKV_AWS_145:SSE-S3 rather than SSE-KMS: CloudFront OAC reads of KMS-encrypted objects need a key policy for cloudfront.amazonaws.com and add a KMS request to every uncached archive GET.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications: the origin keeps the versions.json index itself.
  bucket        = local.bucket_name
  force_destroy = var.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "archives" {
  bucket                  = aws_s3_bucket.archives.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "archives" {
  bucket = aws_s3_bucket.archives.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archives" {
  bucket = aws_s3_bucket.archives.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "archives" {
  bucket = aws_s3_bucket.archives.id
  versioning_configuration {
    status = var.s3_versioning_enabled ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archives" {
  bucket = aws_s3_bucket.archives.id

  # A large upload is PUT to staging/ with a presigned URL, then finalized (validated and
  # published under archives/). What is never finalized goes after a day.
  rule {
    id     = "expire-staged-uploads"
    status = "Enabled"
    filter {
      prefix = local.staging_prefix
    }
    expiration {
      days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Proxied (not pinned) downloads and their version indexes are a cache: after
  # proxy_cache_days the current version expires (a delete marker on a versioned bucket) and
  # the next request fetches the module again. The noncurrent copy goes a day later, not after
  # noncurrent_version_expiration_days: there is nothing to restore in a cache (where two rules
  # overlap, S3 applies the shorter expiration). The delete marker left alone after that is an
  # expired object delete marker, which the same Expiration action removes. Pinned and uploaded
  # versions, provider releases and the provider mirror's packages (archives/_mirror/, kept
  # for good like pins) live outside archives/_proxy/ and are not touched.
  rule {
    id     = "expire-proxy-cache"
    status = "Enabled"
    filter {
      prefix = local.proxy_cache_prefix
    }
    expiration {
      days = var.proxy_cache_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.archives]
}

data "aws_iam_policy_document" "archives_bucket" {
  # CloudFront, for this distribution only, may read what it serves: archives/, discovery, the
  # OpenAPI document and the web page (ui/, web.tf).
  # No s3:ListBucket: a missing archive is a 403 from S3, and nothing can list the bucket
  # through the distribution.
  statement {
    sid       = "CloudFrontReadsArchivesAndDiscovery"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.archives.arn}/${local.archive_prefix}*", "${aws_s3_bucket.archives.arn}/.well-known/*", "${aws_s3_bucket.archives.arn}/openapi.json", "${aws_s3_bucket.archives.arn}/${local.page_prefix}*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.registry.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archives.arn, "${aws_s3_bucket.archives.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "archives" {
  bucket = aws_s3_bucket.archives.id
  policy = data.aws_iam_policy_document.archives_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.archives]
}

# The discovery document, served by CloudFront from S3 with no function in the way. Its bytes
# come from discovery.json, the same file `tfreg serve` answers with, so the two cannot drift;
# with token exchanges configured, the same members plus "tfreg.auth.v1" (auth.tf) for the
# credentials helper. Terraform refuses a discovery document that is not application/json.
resource "aws_s3_object" "discovery" {
  bucket        = aws_s3_bucket.archives.id
  key           = ".well-known/terraform.json"
  content       = local.discovery_document
  content_type  = "application/json"
  cache_control = "public, max-age=3600"
  etag          = md5(local.discovery_document)
  tags          = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.archives]
}

# The API's OpenAPI document, public like the discovery document and from the same file
# `tfreg serve` answers /openapi.json with (tests/openapi.sh keeps it true with schemathesis).
resource "aws_s3_object" "openapi" {
  bucket        = aws_s3_bucket.archives.id
  key           = "openapi.json"
  content       = file("${path.module}/openapi.json")
  content_type  = "application/json"
  cache_control = "public, max-age=3600"
  etag          = filemd5("${path.module}/openapi.json")
  tags          = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.archives]
}
