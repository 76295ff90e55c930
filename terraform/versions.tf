terraform {
  # 1.0 is the oldest CLI this module is written for (configuration_aliases needs 0.15+; no
  # preconditions or cross-variable validations, which came later).
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.28 added invoked_via_function_url to aws_lambda_permission: since October 2025 a
      # Function URL with auth type NONE needs lambda:InvokeFunction (limited to calls through
      # the URL) beside lambda:InvokeFunctionUrl.
      # Also older than 6.28, and relied on: skip_destroy on aws_lambda_function (4.x,
      # https://github.com/hashicorp/terraform-provider-aws/pull/29646) for the Lambda@Edge
      # function, and source_code_hash as a plain trigger that is not compared with the
      # deployed package's hash (since 5.51,
      # https://github.com/hashicorp/terraform-provider-aws/pull/45618), which lets
      # lambda_edge.tf compute it from the bundle's inputs.
      version               = ">= 6.28, < 7.0"
      configuration_aliases = [aws.us_east_1]
    }
    # null_resource writes the Lambda@Edge zip at apply (lambda_edge.tf); terraform_data would
    # need Terraform 1.4.
    null = {
      source  = "hashicorp/null"
      version = ">= 3.1, < 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0"
    }
    # The archive URL signing key pair (secrets.tf); private_key_pem_pkcs8 came in 4.0.
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
  }
}
