# The registry with the public-module proxy on, like the Python registry's examples/proxy-mode:
# its allow and deny lists, written as it wrote them ("hashicorp/" is the namespace hashicorp),
# plus the us-east-1 provider this module needs and the providers map that passes it.
#
#   bash cloudfront/package.sh          # from the repository root: dist/origin.zip, dist/edge-bundle/
#   cd terraform/examples/proxy-mode
#   terraform init && terraform apply
#
# Prefixes match whole path segments here: "myorg/vpc" covers myorg/vpc/* but not
# myorg/vpc-peering, which the Python registry's raw prefix match also covered.
# ../../README.md, "Proxy and pinning" and "Switching from the Python registry".

provider "aws" {
  region = var.region
}

# CloudFront's certificate and the Lambda@Edge function are in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

module "registry" {
  source = "../.."

  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  domain_name     = var.domain_name
  certificate_arn = var.certificate_arn

  proxy_enabled    = true
  proxy_allow_list = var.proxy_allow_list
  proxy_deny_list  = var.proxy_deny_list
  # Your own namespaces: their versions come only from this registry, never merged with a
  # public module of the same name (dependency confusion). The Python registry never merged.
  proxy_local_only = var.private_namespaces
}
