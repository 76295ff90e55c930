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
      version               = ">= 6.28, < 7.0"
      configuration_aliases = [aws.us_east_1]
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
    local = {
      source  = "hashicorp/local"
      version = ">= 2.4, < 3.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0"
    }
  }
}
