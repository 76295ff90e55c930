# The smallest deployment, like the Python registry's examples/basic: the registry behind a
# custom domain. What its root had, plus the us-east-1 provider this module needs (the
# Lambda@Edge function lives there) and the providers map that passes it.
#
#   bash cloudfront/package.sh          # from the repository root: dist/origin.zip, dist/edge-bundle/
#   cd terraform/examples/basic
#   terraform init && terraform apply   # needs /bin/sh and python3 (or zip) to zip the edge bundle
#
# Without domain_name and certificate_arn the registry answers at the distribution's
# *.cloudfront.net name. With them, point the domain at the custom_domain_regional_domain_name
# output (a CNAME, or a Route 53 alias in custom_domain_regional_zone_id).

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
  certificate_arn = var.certificate_arn # from us-east-1, whatever var.region is
}
