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

variable "provider_mirror_upstreams" {
  type        = list(string)
  description = "Provider registries whose public providers this registry mirrors (its /v1/mirror/ network mirror); [] turns the mirror off."
  default     = ["registry.terraform.io"]
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

variable "ci_role_arns" {
  type        = list(string)
  description = "IAM roles of CI jobs on AWS that may publish to private_namespaces through the AWS token exchange (arn:aws:iam::<account>:role/NAME, * allowed after the account). Needs domain_name or aws_exchange_server_id."
  default     = []
}

variable "aws_exchange_server_id" {
  type        = string
  description = "Without domain_name: the distribution's domain name (output cloudfront_domain_name of a first apply), which AWS exchange callers sign for."
  default     = null
}

variable "github_repositories" {
  type        = list(string)
  description = "GitHub repositories (owner/name) whose Actions jobs may exchange their OIDC token: main publishes to private_namespaces, other refs download."
  default     = []
}

variable "gitlab_projects" {
  type        = list(string)
  description = "gitlab.com project paths (group/project) whose protected-ref jobs may exchange their OIDC token to publish to private_namespaces."
  default     = []
}
