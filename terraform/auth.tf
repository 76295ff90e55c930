# Token exchanges (README.md, "CI without secrets"): the trust rules of aws_trust_rules and
# oidc_issuers (variables.tf), rendered into the origin Lambda's TFREG_AUTH_CONFIG (the JSON of
# `tfreg serve --auth-config`, read by origin/src/lambda/config.rs) and published, without the
# rules, in the discovery document's "tfreg.auth.v1" member for the credentials helper.
#
# No AWS permission is added for them. POST /v1/auth/aws forwards the caller's own SigV4-signed
# sts:GetCallerIdentity request to the STS endpoint over HTTPS: STS authenticates the caller's
# signature, not the origin's role, and GetCallerIdentity needs no IAM permission anyway
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html). POST
# /v1/auth/oidc fetches the issuer's discovery document and keys over HTTPS. Both need only
# outbound HTTPS, which the origin Lambda has because it is not in a VPC (lambda_origin.tf).
# The token an exchange issues is an ordinary item in the token table (PutItem and
# ConditionCheckItem in a transaction, already granted for POST /v1/tokens) with an
# expires_at that the table's TTL (dynamodb.tf) deletes it by.

locals {
  aws_exchange_enabled  = length(var.aws_trust_rules) > 0
  oidc_exchange_enabled = length(var.oidc_issuers) > 0
  exchanges_enabled     = local.aws_exchange_enabled || local.oidc_exchange_enabled

  # What callers sign into X-Tfreg-Server-Id: the registry's host. Not the distribution's
  # domain name by default: the origin's environment cannot depend on the distribution, which
  # is created from the origin's Function URL (a cycle), so without domain_name the operator
  # names it (checked below).
  aws_exchange_server_id = var.aws_exchange_server_id != null ? var.aws_exchange_server_id : var.domain_name
  aws_exchange_server_id_check = !local.aws_exchange_enabled || local.aws_exchange_server_id != null ? "ok" : file(
    "ERROR: aws_trust_rules needs a server ID: set domain_name, or aws_exchange_server_id to the distribution's domain name (output cloudfront_domain_name)"
  )

  # TFREG_AUTH_CONFIG: the aws and oidc members only for the exchanges that have rules (the
  # origin refuses an exchange without rules at start). Defaults the origin applies are left
  # out: max_age_secs (900, what STS allows), the OIDC key cache and leeway settings.
  auth_config = merge(
    local.aws_exchange_enabled ? {
      aws = {
        sts_endpoint = var.aws_sts_endpoint
        server_id    = local.aws_exchange_server_id
        rules        = var.aws_trust_rules
      }
    } : {},
    local.oidc_exchange_enabled ? {
      oidc = {
        issuers = var.oidc_issuers
      }
    } : {},
  )

  # The environment variable only when an exchange is configured: without it the origin
  # answers 404 exchange_not_configured on /v1/auth/*.
  origin_auth_settings = local.exchanges_enabled ? { TFREG_AUTH_CONFIG = jsonencode(local.auth_config) } : {}

  # For the credentials helper (discovery document, s3.tf): where to sign for and which
  # audience to ask the CI for, never the rules. "audience" is there when every issuer takes
  # the same one (the usual case); "issuers" lets a client pick by its CI's issuer.
  oidc_audiences = distinct([for issuer in var.oidc_issuers : issuer.audience])
  auth_discovery = merge(
    local.aws_exchange_enabled ? {
      aws = {
        sts_endpoint = var.aws_sts_endpoint
        server_id    = local.aws_exchange_server_id
      }
    } : {},
    local.oidc_exchange_enabled ? {
      oidc = merge(
        { issuers = [for issuer in var.oidc_issuers : { issuer = issuer.issuer, audience = issuer.audience }] },
        length(local.oidc_audiences) == 1 ? { audience = local.oidc_audiences[0] } : {},
      )
    } : {},
  )

  # The discovery document: discovery.json as it is (the bytes `tfreg serve` answers with)
  # without exchanges; with them, the same members plus "tfreg.auth.v1".
  discovery_document = local.exchanges_enabled ? jsonencode(merge(
    jsondecode(file("${path.module}/discovery.json")),
    { "tfreg.auth.v1" = local.auth_discovery },
  )) : file("${path.module}/discovery.json")
}
