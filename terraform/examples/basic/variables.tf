variable "region" {
  type        = string
  description = "Region of the bucket, table, secret and origin Lambda."
  default     = "us-east-1"
}

variable "domain_name" {
  type        = string
  description = "Custom host name for the registry, such as registry.example.com (set with certificate_arn), or null for the distribution's *.cloudfront.net name."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "ARN of an ACM certificate in us-east-1 covering domain_name (arn:aws:acm:us-east-1:123456789012:certificate/...), or null. A certificate from another region fails the plan: CloudFront only takes us-east-1's."
  default     = null
}
