# The token table: tokens are stored by the SHA-256 of their value, never the value.
# pk = "token#<sha256 hex>" -> token_name, permission, created_at, expires_at?, description?
# pk = "name#<token_name>"  -> token_hash, expires_at?
# The edge function reads it with GetItem; the origin creates and revokes tokens in transactions.

resource "aws_dynamodb_table" "tokens" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS-managed key aws/dynamodb (server_side_encryption enabled, no key ARN); a customer-managed key adds a KMS call to every edge lookup miss and a monthly key fee for a table that holds only token hashes.
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = !var.force_destroy

  tags = local.tags
}

# The master token: created at deploy time, like any other token, as its two items.
resource "time_static" "master_token_created" {}

resource "aws_dynamodb_table_item" "master_token" {
  table_name = aws_dynamodb_table.tokens.name
  hash_key   = aws_dynamodb_table.tokens.hash_key
  item = jsonencode({
    pk          = { S = "token#${sha256(local.master_token)}" }
    token_name  = { S = "master" }
    permission  = { S = "master" }
    created_at  = { S = time_static.master_token_created.rfc3339 }
    description = { S = "created by the deployment module; the value is in Secrets Manager (${local.secret_name})" }
  })
}

resource "aws_dynamodb_table_item" "master_token_name" {
  table_name = aws_dynamodb_table.tokens.name
  hash_key   = aws_dynamodb_table.tokens.hash_key
  item = jsonencode({
    pk         = { S = "name#master" }
    token_hash = { S = sha256(local.master_token) }
  })
}
