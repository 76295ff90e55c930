variable "region" {
  type        = string
  description = "Region of the bucket, table, secret and origin Lambda."
  default     = "eu-west-1"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the deployment's resource names."
  default     = "tfreg"
}

variable "domain_name" {
  type        = string
  description = "Optional custom host name (set with certificate_arn)."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "Optional ACM certificate in us-east-1 for domain_name."
  default     = null
}

variable "proxy_enabled" {
  type        = bool
  description = "Serve allowed public modules from registry.terraform.io through this registry."
  default     = true
}

variable "private_namespaces" {
  type        = list(string)
  description = "Namespaces (or namespace/name prefixes) of your own modules: their versions come only from this registry, never from upstream."
  default     = ["acme"]
}

variable "waf_enabled" {
  type        = bool
  description = "Put a WAF web ACL with a rate limit per client IP in front of the registry (billed by AWS WAF: a monthly fee and a per-request charge)."
  default     = false
}
