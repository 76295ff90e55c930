# A complete deployment of the registry: the module with both AWS providers it needs (the
# default region for the bucket, table, secret and origin Lambda; us-east-1 for Lambda@Edge).
#
#   bash cloudfront/package.sh          # from the repository root: dist/origin.zip, dist/edge-bundle/
#   cd terraform/examples/complete
#   terraform init && terraform apply

provider "aws" {
  region = var.region
}

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

  name_prefix     = var.name_prefix
  domain_name     = var.domain_name
  certificate_arn = var.certificate_arn
  price_class     = "PriceClass_100"

  token_cache_ttl_seconds = 60
  log_retention_days      = 30

  tags = {
    project = "tfreg"
  }
}
