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
  description = "ARN of an ACM certificate in us-east-1 covering domain_name, or null. A certificate from another region fails the plan: CloudFront only takes us-east-1's."
  default     = null
}

variable "proxy_allow_list" {
  type        = list(string)
  description = "Module prefixes the proxy may serve from registry.terraform.io (\"hashicorp/\" and \"hashicorp\" are the same namespace)."
  default     = ["hashicorp/", "terraform-aws-modules/"]
}

variable "proxy_deny_list" {
  type        = list(string)
  description = "Module prefixes never served from upstream; a deny wins over an allow."
  default     = ["internal/"]
}

variable "private_namespaces" {
  type        = list(string)
  description = "Namespaces (or namespace/name prefixes) of your own modules: their versions come only from this registry."
  default     = ["myorg/"]
}
