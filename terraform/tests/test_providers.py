"""Structural tests of the deployment module for private providers (providers.v1, issue 20):
discovery names the service, CloudFront sends the provider routes through the token check to
the origin and serves the release files as signed archives, and the origin role may touch the
provider prefixes the S3 provider store uses, and nothing CloudFront reads beyond archives/.

Run: .venv/bin/python -m pytest terraform/tests
"""

import fnmatch
import json
import re

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)

REPO = MODULE.parent


def first_behaviour(distribution, path):
    """The behaviour CloudFront picks for `path`: the first ordered one whose pattern matches
    (`*` matches any characters, `/` included), else the default."""
    for entry in distribution["ordered_cache_behavior"]:
        if fnmatch.fnmatchcase(path, entry["path_pattern"]):
            return entry
    return one(distribution["default_cache_behavior"])


def test_discovery_names_the_provider_registry():
    document = json.loads((MODULE / "discovery.json").read_bytes())
    assert document["providers.v1"] == "/v1/providers/"
    assert document["modules.v1"] == "/v1/modules/"


PROVIDER_ROUTES = [
    "/v1/providers/acme/dns/versions",
    "/v1/providers/acme/dns/1.2.0/download/linux/amd64",
    "/v1/providers/acme/dns/1.2.0",
    "/v1/providers/acme/dns/1.2.0/uploads",
    "/v1/providers/acme/dns/1.2.0/uploads/0123456789abcdef0123456789abcdef",
    "/v1/provider-keys/acme",
    "/v1/provider-keys/acme/0123456789ABCDEF",
]


@pytest.mark.parametrize("path", PROVIDER_ROUTES)
def test_provider_routes_pass_the_token_check_to_the_origin(distribution, path):
    chosen = first_behaviour(distribution, path)
    assert chosen["path_pattern"] == "/v1/*", path
    assert viewer_request_lambdas(chosen) == ["aws_lambda_function.edge.qualified_arn"]
    assert expr(chosen["target_origin_id"]) == "local.lambda_origin_id"
    # Publishing and key registration need PUT, POST and DELETE through.
    assert {"GET", "PUT", "POST", "DELETE"} <= set(chosen["allowed_methods"])


def test_provider_files_are_signed_archives_with_no_function(distribution):
    path = "/archives/_providers/acme/dns/1.2.0/0123abcd/terraform-provider-dns_1.2.0_linux_amd64.zip"
    chosen = first_behaviour(distribution, path)
    assert chosen["path_pattern"] == "/archives/*"
    assert "lambda_function_association" not in chosen
    assert [expr(g) for g in chosen["trusted_key_groups"]] == ["aws_cloudfront_key_group.archives.id"]


def test_provider_prefixes_match_the_s3_provider_store(module):
    source = (REPO / "origin/src/aws/s3/providers.rs").read_text()
    constants = dict(re.findall(r'pub const (PROVIDER_\w+_PREFIX): &str = "([^"]+)";', source))
    locals_ = merged_locals(module)
    assert constants["PROVIDER_RECORDS_PREFIX"] == expr(locals_["provider_records_prefix"])
    assert constants["PROVIDER_KEYS_PREFIX"] == expr(locals_["provider_keys_prefix"])
    served = (REPO / "origin/src/registry/providers.rs").read_text()
    assert 'pub const PROVIDER_FILES_PATH: &str = "_providers/";' in served


def test_origin_reads_and_writes_the_provider_prefixes(module):
    grants = origin_grants(module)
    for prefix in ("provider_records_prefix", "provider_keys_prefix"):
        resource = f"${{aws_s3_bucket.archives.arn}}/${{local.{prefix}}}*"
        assert resource in grants["s3:GetObject"], prefix
        assert resource in grants["s3:PutObject"], prefix
    # Keys are removed; release records never are (releases are immutable).
    assert "${aws_s3_bucket.archives.arn}/${local.provider_keys_prefix}*" in grants["s3:DeleteObject"]
    assert "${aws_s3_bucket.archives.arn}/${local.provider_records_prefix}*" not in grants["s3:DeleteObject"]


def test_cloudfront_never_reads_the_records_or_the_keys(module):
    doc = blocks_of(module, "data", "aws_iam_policy_document")["archives_bucket"]
    for statement in doc["statement"]:
        for resource in statement["resources"]:
            assert "provider" not in resource, resource


def test_no_lifecycle_rule_expires_provider_releases(module):
    bucket = blocks_of(module, "resource", "aws_s3_bucket_lifecycle_configuration")["archives"]
    for rule in bucket["rule"]:
        if "expiration" in rule:
            prefix = expr(one(rule["filter"]).get("prefix", ""))
            assert "provider" not in prefix, rule["id"]
