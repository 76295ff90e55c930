# The Python registry's Terraform interface (terraform-aws-serverless-module-registry: API
# Gateway + Lambda + S3 + DynamoDB), kept so that its users' roots plan against this module
# (README.md, "Switching from the Python registry").
#
# Its inputs, by name:
#   domain_name, certificate_arn      the same names here; the certificate must be in us-east-1
#                                     (CloudFront's rule), checked by certificate_arn's
#                                     validation in variables.tf from the ARN's region field
#   proxy_enabled, proxy_allow_list,  the same names; its "hashicorp/" (a namespace with a
#   proxy_deny_list                   trailing slash) is accepted and read as "hashicorp" below
#   s3_bucket_name                    the same name; its default "" means this module's default
#   master_token_secret_name          the same name
#   token_table_name                  dynamodb_table_name here: accepted below as an alias
# Its outputs api_endpoint, custom_domain_regional_domain_name, custom_domain_regional_zone_id
# and s3_bucket_arn are in outputs.tf beside this module's own (master_token_secret_arn,
# s3_bucket_name and dynamodb_table_name have the same names here).

variable "token_table_name" {
  type        = string
  description = "The Python registry's name for dynamodb_table_name (the DynamoDB token table), accepted so that its roots plan unchanged. Set one of the two: both set to different names fails the plan. Default (null): dynamodb_table_name, or its default. Not the Python registry's own table while that deployment still exists: the tables' schemas differ, and `tfreg migrate-from-seed` copies its tokens across."
  default     = null

  validation {
    condition     = var.token_table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.token_table_name))
    error_message = "The token_table_name must be 3-255 letters, digits, underscores, dots or hyphens."
  }
}

locals {
  # One table, whichever of the two inputs names it (main.tf's table_name takes either).
  # Variable validations cannot see each other before Terraform 1.9, and preconditions need
  # 1.2: like the checks in main.tf, a mismatch fails the plan through file() of a path that
  # names the mistake.
  token_table_name_check = var.token_table_name == null || var.dynamodb_table_name == null || var.token_table_name == var.dynamodb_table_name ? "ok" : file(
    "ERROR: token_table_name (the Python registry's input) and dynamodb_table_name are both set and differ: set only one of them"
  )

  # The proxy lists as the origin reads them. The Python registry writes a namespace as
  # "hashicorp/" (it matched raw string prefixes); here a prefix always ends at a path segment,
  # so "hashicorp/" and "hashicorp" are the same prefix and the origin gets the latter.
  proxy_allow_list = [for entry in var.proxy_allow_list : trimsuffix(entry, "/")]
  proxy_deny_list  = [for entry in var.proxy_deny_list : trimsuffix(entry, "/")]
  proxy_local_only = [for entry in var.proxy_local_only : trimsuffix(entry, "/")]
}
