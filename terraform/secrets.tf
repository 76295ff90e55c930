# The three secrets the deployment makes. All three land in Terraform state (random_* results
# and the resources that carry them): keep the state encrypted and access-controlled.
#   master token   -> Secrets Manager (and its SHA-256 in DynamoDB)
#   signing key    -> the origin's environment and the edge bundle's config.json
#   origin secret  -> the origin's environment and the edge bundle's config.json

resource "random_id" "master_token" {
  byte_length = 32
}

resource "random_id" "signing_key" {
  byte_length = 32
}

resource "random_password" "origin_secret" {
  length  = 48
  special = false
}

locals {
  master_token  = "tfr_${random_id.master_token.hex}"
  signing_key   = random_id.signing_key.hex
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
