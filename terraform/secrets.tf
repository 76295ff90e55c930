# The secrets the deployment makes. All of them land in Terraform state (random_* and
# tls_private_key results and the resources that carry them): keep the state encrypted and
# access-controlled.
#   master token     -> Secrets Manager (and its SHA-256 in DynamoDB)
#   URL signing key  -> Secrets Manager, read by the origin (its public half: CloudFront's key group)
#   origin secret    -> the origin's environment and the edge bundle's config.json

resource "random_id" "master_token" {
  byte_length = 32
}

resource "random_password" "origin_secret" {
  length  = 48
  special = false
}

locals {
  master_token  = "tfr_${random_id.master_token.hex}"
  origin_secret = random_password.origin_secret.result

  # A deleted secret keeps its name for its recovery window: until then a secret of that name
  # cannot be created, so a deployment of the same name cannot be re-created either. 7 days
  # (Secrets Manager's shortest window) by default, to restore the only copy of the master
  # token after an unintended destroy; 0 for throwaway deployments (force_destroy), which are
  # destroyed and re-created on purpose.
  master_token_recovery_window_days = var.master_token_recovery_window_days != null ? var.master_token_recovery_window_days : (var.force_destroy ? 0 : 7)
}

resource "aws_secretsmanager_secret" "master_token" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key for Secrets Manager; a customer-managed key adds a monthly fee and protects nothing more for a secret read by admins only.
  #checkov:skip=CKV2_AWS_57:Rotation would need a Lambda that rewrites the token's DynamoDB items; rotate by creating a new master token through the API (POST /v1/tokens) and revoking this one.
  name                    = local.secret_name
  description             = "The master token of the tfreg registry ${var.name_prefix}: creates and revokes the other tokens."
  recovery_window_in_days = local.master_token_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "master_token" {
  secret_id     = aws_secretsmanager_secret.master_token.id
  secret_string = local.master_token
}

# The archive URL signing key: a CloudFront key pair. CloudFront checks the signed archive URLs
# itself (the trusted key group on /archives/*, cloudfront.tf), so no function runs on archive
# requests; the origin signs them with the private key, which it reads from this secret once
# per container. ECDSA P-256: CloudFront takes RSA 2048 or ECDSA P-256 public keys (CloudFront
# API Reference, PublicKey), and an ECDSA signature costs the origin a fraction of an RSA one.
# Like the other secrets, the private key is in Terraform state (tls_private_key's result).
resource "tls_private_key" "url_signing" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

locals {
  url_signing_secret_name = "${var.name_prefix}/url-signing-key"
  # The longest ARN that name can have (partition, region, account, Secrets Manager's six
  # random characters), for the 4 KB environment check in lambda_origin.tf.
  url_signing_secret_arn_length = 80 + length(local.url_signing_secret_name)
}

resource "aws_secretsmanager_secret" "url_signing" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key for Secrets Manager; a customer-managed key adds a monthly fee and protects nothing more for a secret read by the origin's role only.
  #checkov:skip=CKV2_AWS_57:Rotate by replacing tls_private_key.url_signing (terraform apply -replace=...): a new public key, key group and secret version; archive URLs already handed out (300 s) stop working.
  name                    = local.url_signing_secret_name
  description             = "The CloudFront key pair that signs the tfreg registry ${var.name_prefix}'s archive URLs, and the registry's address: read by the origin Lambda."
  recovery_window_in_days = var.force_destroy ? 0 : 7
  tags                    = local.tags
}

# Written after the distribution: the origin signs URLs for the registry's own address, which
# its environment cannot name (the distribution is the origin's caller, so Terraform would see
# a cycle), and with the key pair ID CloudFront gave the public key.
resource "aws_secretsmanager_secret_version" "url_signing" {
  secret_id = aws_secretsmanager_secret.url_signing.id
  secret_string = jsonencode({
    private_key = tls_private_key.url_signing.private_key_pem_pkcs8
    key_pair_id = aws_cloudfront_public_key.archives.id
    base_url    = "https://${local.registry_host}"
  })
}
