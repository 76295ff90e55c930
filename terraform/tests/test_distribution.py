"""Structural tests of the deployment module: The distribution, the edge function, S3, discovery, caching, the origin Lambda, inputs and outputs, the example.

Run: .venv/bin/python -m pytest terraform/tests
"""

import json

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)


# The edge check: where it runs, and where it must not.

def test_token_check_runs_on_every_v1_request(distribution):
    api = behaviour(distribution, "/v1/*")
    assert viewer_request_lambdas(api) == ["aws_lambda_function.edge.qualified_arn"]
    assert all(a["include_body"] is False for a in api["lambda_function_association"])
    assert expr(api["target_origin_id"]) == "local.lambda_origin_id"


def test_archives_are_checked_by_a_trusted_key_group_with_no_function(module, distribution):
    # CloudFront checks the signed URL itself: no Lambda@Edge or CloudFront Function runs on
    # Terraform's HEAD and GET of an archive (issue 19).
    archives = behaviour(distribution, "/archives/*")
    assert "lambda_function_association" not in archives
    assert "function_association" not in archives
    assert [expr(g) for g in archives["trusted_key_groups"]] == ["aws_cloudfront_key_group.archives.id"]
    assert "trusted_signers" not in archives
    assert expr(archives["target_origin_id"]) == "local.s3_origin_id"
    assert set(archives["allowed_methods"]) == {"GET", "HEAD"}
    # The key group holds the public half of the key the origin signs with.
    group = blocks_of(module, "resource", "aws_cloudfront_key_group")["archives"]
    assert [expr(i) for i in group["items"]] == ["aws_cloudfront_public_key.archives.id"]
    public = blocks_of(module, "resource", "aws_cloudfront_public_key")["archives"]
    assert expr(public["encoded_key"]) == "tls_private_key.url_signing.public_key_pem"
    key = blocks_of(module, "resource", "tls_private_key")["url_signing"]
    assert (key["algorithm"], key["ecdsa_curve"]) == ("ECDSA", "P256")
    tls = one(module["terraform"])["required_providers"][0]["tls"]
    assert tls["source"] == "hashicorp/tls"


def test_the_origin_reads_the_signing_key_and_address_from_its_secret(module):
    version = blocks_of(module, "resource", "aws_secretsmanager_secret_version")["url_signing"]
    assert expr(version["secret_id"]) == "aws_secretsmanager_secret.url_signing.id"
    value = expr(version["secret_string"])
    for part in (
        '"private_key": "${tls_private_key.url_signing.private_key_pem_pkcs8}"',
        '"key_pair_id": "${aws_cloudfront_public_key.archives.id}"',
        '"base_url": "https://${local.registry_host}"',
    ):
        assert part in value, value
    env = merged_locals(module)["origin_secrets"]
    assert expr(env["TFREG_URL_SIGNING_SECRET"]) == "aws_secretsmanager_secret.url_signing.arn"
    assert "TFREG_SIGNING_KEY" not in env
    policy = blocks_of(module, "data", "aws_iam_policy_document")["origin"]
    reads = [s for s in policy["statement"] if s.get("sid") == "ReadUrlSigningKey"]
    assert len(reads) == 1, policy
    assert reads[0]["actions"] == ["secretsmanager:GetSecretValue"]
    assert [expr(r) for r in reads[0]["resources"]] == ["aws_secretsmanager_secret.url_signing.arn"]


def test_no_function_runs_on_discovery(distribution):
    discovery = behaviour(distribution, "/.well-known/*")
    assert "lambda_function_association" not in discovery
    assert "function_association" not in discovery
    assert expr(discovery["target_origin_id"]) == "local.s3_origin_id"


def test_default_behaviour_is_checked_too(distribution):
    default = one(distribution["default_cache_behavior"])
    assert viewer_request_lambdas(default) == ["aws_lambda_function.edge.qualified_arn"]


def test_every_behaviour_is_https_only(distribution):
    entries = distribution["ordered_cache_behavior"] + distribution["default_cache_behavior"]
    for entry in entries:
        assert entry["viewer_protocol_policy"] in ("https-only", "redirect-to-https"), entry


# The edge function itself.

def test_edge_function_is_in_us_east_1_on_nodejs(module):
    edge = blocks_of(module, "resource", "aws_lambda_function")["edge"]
    assert expr(edge["provider"]) == "aws.us_east_1"
    assert expr(edge["handler"]) == "index.handler"
    assert edge["publish"] is True
    assert edge["memory_size"] == 128
    assert edge["timeout"] <= 5
    assert expr(edge["runtime"]) == "var.edge_runtime"
    runtime = {name: body for entry in module["variable"] for name, body in entry.items()}["edge_runtime"]
    assert runtime["default"].startswith("nodejs")
    validation = expr(one(runtime["validation"])["condition"])
    # python-hcl2 may or may not keep the quotes of strings inside an expression.
    offered = [r.strip().strip('"') for r in re.search(r"contains\(\[([^\]]*)\]", validation).group(1).split(",")]
    assert offered and all(r.startswith("nodejs") for r in offered), validation


def test_edge_log_group_is_in_us_east_1(module):
    log_group = blocks_of(module, "resource", "aws_cloudwatch_log_group")["edge"]
    assert expr(log_group["provider"]) == "aws.us_east_1"
    assert "/aws/lambda/us-east-1." in log_group["name"]


def test_module_takes_the_us_east_1_provider_alias(module):
    aws = one(module["terraform"])["required_providers"][0]["aws"]
    aliases = [expr(a) for a in aws["configuration_aliases"]]
    assert aliases == ["aws.us_east_1"]


def test_edge_role_is_assumable_by_lambda_and_edgelambda(module):
    doc = blocks_of(module, "data", "aws_iam_policy_document")["edge_assume"]
    principals = one(one(doc["statement"])["principals"])
    assert set(principals["identifiers"]) == {"lambda.amazonaws.com", "edgelambda.amazonaws.com"}


def test_edge_config_has_the_keys_of_the_bundle_template(module):
    template = json.loads((REPO / "edge" / "js" / "config.template.json").read_text())
    config = merged_locals(module)["edge_config"]
    assert set(config) == set(template)


def test_edge_handler_exports_handler():
    source = (REPO / "edge" / "js" / "index.mjs").read_text()
    assert re.search(r"export\s+(async\s+)?function\s+handler\b|export\s+const\s+handler\b", source)


# S3: private, read by this distribution only.

def test_bucket_blocks_all_public_access(module):
    block = blocks_of(module, "resource", "aws_s3_bucket_public_access_block")["archives"]
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[setting] is True, setting


def test_no_public_acls(module):
    assert not blocks_of(module, "resource", "aws_s3_bucket_acl")
    for body in blocks_of(module, "resource", "aws_s3_object").values():
        assert "acl" not in body


def test_bucket_policy_allows_only_this_distribution(module):
    doc = blocks_of(module, "data", "aws_iam_policy_document")["archives_bucket"]
    for statement in doc["statement"]:
        if statement.get("effect", "Allow") != "Allow":
            continue
        for principals in statement.get("principals", []):
            assert "*" not in principals["identifiers"], statement
            if principals["type"] == "Service":
                conditions = {
                    (c["test"], c["variable"]): [expr(v) for v in c["values"]]
                    for c in statement.get("condition", [])
                }
                assert conditions.get(("StringEquals", "AWS:SourceArn")) == [
                    "aws_cloudfront_distribution.registry.arn"
                ], statement
        # CloudFront reads only what it serves: never staging/.
        for resource in statement["resources"]:
            assert "staging" not in resource


def test_s3_origin_uses_origin_access_control(distribution, module):
    s3_origin = next(o for o in distribution["origin"] if expr(o["origin_id"]) == "local.s3_origin_id")
    assert expr(s3_origin["origin_access_control_id"]) == "aws_cloudfront_origin_access_control.archives.id"
    oac = blocks_of(module, "resource", "aws_cloudfront_origin_access_control")["archives"]
    assert oac["signing_behavior"] == "always"
    assert oac["signing_protocol"] == "sigv4"


# The discovery document is byte-identical to what `tfreg serve` answers.

def test_discovery_file_bytes():
    assert (MODULE / "discovery.json").read_bytes() == DISCOVERY_BYTES


def test_discovery_object_is_written_from_the_shared_file(module):
    obj = blocks_of(module, "resource", "aws_s3_object")["discovery"]
    assert obj["key"] == ".well-known/terraform.json"
    # discovery.json as it is without exchanges, with "tfreg.auth.v1" beside its members with
    # them (auth.tf; test_exchanges.py plans both).
    assert expr(obj["content"]) == "local.discovery_document"
    assert expr(obj["etag"]) == "md5(local.discovery_document)"
    document = expr(merged_locals(module)["discovery_document"])
    assert document.endswith(': file("${path.module}/discovery.json")'), document
    assert 'jsondecode(file("${path.module}/discovery.json"))' in document
    assert obj["content_type"] == "application/json"


def test_openapi_document_is_a_public_static_object_from_the_served_file(module, distribution):
    # The same file tfreg serve answers /openapi.json with (include_str! in distribution.rs).
    served = (MODULE.parent / "cloudfront" / "src" / "distribution.rs").read_text()
    assert 'include_str!("../../terraform/openapi.json")' in served
    obj = blocks_of(module, "resource", "aws_s3_object")["openapi"]
    assert obj["key"] == "openapi.json"
    assert expr(obj["content"]) == 'file("${path.module}/openapi.json")'
    assert obj["content_type"] == "application/json"
    openapi = behaviour(distribution, "/openapi.json")
    assert "lambda_function_association" not in openapi
    assert expr(openapi["target_origin_id"]) == "local.s3_origin_id"
    assert openapi["allowed_methods"] == ["GET", "HEAD"]
    # CloudFront may read it through Origin Access Control.
    assert "/openapi.json" in (MODULE / "s3.tf").read_text()


# Caching.

def test_archive_cache_key_leaves_out_the_query_string(distribution, module):
    name = policy_ref(behaviour(distribution, "/archives/*")["cache_policy_id"], "aws_cloudfront_cache_policy")
    policy = blocks_of(module, "resource", "aws_cloudfront_cache_policy")[name]
    key = one(policy["parameters_in_cache_key_and_forwarded_to_origin"])
    assert one(key["query_strings_config"])["query_string_behavior"] == "none"
    assert one(key["headers_config"])["header_behavior"] == "none"
    assert one(key["cookies_config"])["cookie_behavior"] == "none"
    assert "origin_request_policy_id" not in behaviour(distribution, "/archives/*")


def test_api_is_cached_at_most_a_minute_on_the_path_and_query(distribution, module):
    name = policy_ref(behaviour(distribution, "/v1/*")["cache_policy_id"], "aws_cloudfront_cache_policy")
    policy = blocks_of(module, "resource", "aws_cloudfront_cache_policy")[name]
    assert (policy["min_ttl"], policy["default_ttl"], policy["max_ttl"]) == (0, 0, 60)
    key = one(policy["parameters_in_cache_key_and_forwarded_to_origin"])
    assert one(key["headers_config"])["header_behavior"] == "none"
    assert one(key["cookies_config"])["cookie_behavior"] == "none"
    assert set(behaviour(distribution, "/v1/*")["cached_methods"]) == {"GET", "HEAD"}


def test_api_keys_on_and_forwards_every_query_string(distribution, module):
    # The origin reads the query: /v1/modules/search?q=.., ?offset=..&limit=.. pages, an
    # upload's publish options, and the Expires/Key-Pair-Id/Signature of the provider mirror's
    # signed package URL. "all" in a cache policy puts every query string in the key and in
    # the request to the origin (CloudFront API reference, CachePolicyQueryStringsConfig), so
    # two searches are never one cached answer; the origin request policy says the same.
    api = behaviour(distribution, "/v1/*")
    name = policy_ref(api["cache_policy_id"], "aws_cloudfront_cache_policy")
    policy = blocks_of(module, "resource", "aws_cloudfront_cache_policy")[name]
    key = one(policy["parameters_in_cache_key_and_forwarded_to_origin"])
    query = one(key["query_strings_config"])
    assert query["query_string_behavior"] == "all"
    assert "query_strings" not in query  # no list: every name, present and future
    name = policy_ref(api["origin_request_policy_id"], "aws_cloudfront_origin_request_policy")
    forwarded = blocks_of(module, "resource", "aws_cloudfront_origin_request_policy")[name]
    assert one(forwarded["query_strings_config"])["query_string_behavior"] == "all"
    # Archives still leave the query (the signature) out of their key and their S3 request.
    static = policy_ref(behaviour(distribution, "/archives/*")["cache_policy_id"], "aws_cloudfront_cache_policy")
    assert static != policy_ref(api["cache_policy_id"], "aws_cloudfront_cache_policy")
    # The module's own notes say so.
    cloudfront = (MODULE / "cloudfront.tf").read_text()
    assert "keyed on the path and the whole query string" in cloudfront


def test_every_query_parameter_the_api_documents_reaches_the_origin(distribution, module):
    # The query-string bug this guards against: a /v1 operation that reads a parameter
    # (documented in openapi.json) behind a behaviour whose policies drop it works on tfreg
    # serve and silently not on AWS.
    api = behaviour(distribution, "/v1/*")
    name = policy_ref(api["cache_policy_id"], "aws_cloudfront_cache_policy")
    policy = blocks_of(module, "resource", "aws_cloudfront_cache_policy")[name]
    query = one(one(policy["parameters_in_cache_key_and_forwarded_to_origin"])["query_strings_config"])
    forwarded = lambda parameter: query["query_string_behavior"] == "all" or (
        query["query_string_behavior"] == "whitelist" and parameter in one(query["query_strings"])["items"]
    )
    document = json.loads((MODULE / "openapi.json").read_text())
    read = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and path.startswith("/v1/"):
                    read.append((method, path, parameter["name"]))
                    assert forwarded(parameter["name"]), f"{method} {path}?{parameter['name']}"
    # Search, pagination, publish options and the mirror's signed package URL, at least.
    assert {p for _, _, p in read} >= {"q", "offset", "limit", "Expires", "Key-Pair-Id", "Signature"}


def test_api_forwards_the_edge_headers_and_not_authorization(distribution, module):
    name = policy_ref(
        behaviour(distribution, "/v1/*")["origin_request_policy_id"], "aws_cloudfront_origin_request_policy"
    )
    policy = blocks_of(module, "resource", "aws_cloudfront_origin_request_policy")[name]
    headers = one(policy["headers_config"])
    assert headers["header_behavior"] == "whitelist"
    items = {h.lower() for h in one(headers["headers"])["items"]}
    assert {"x-tfreg-identity", "x-tfreg-origin-secret"} <= items
    assert "authorization" not in items
    assert "host" not in items


# The origin Lambda.

def test_origin_lambda_runs_the_packaged_bootstrap(module):
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    assert origin["runtime"] == "provided.al2023"
    assert origin["handler"] == "bootstrap"
    assert origin["architectures"] == ["x86_64"]


def test_origin_environment_covers_what_the_lambda_reads(module):
    env = set(origin_environment(module))
    documented = set(re.findall(r"`(TFREG_[A-Z0-9_]+)`", (REPO / "origin" / "src" / "lambda" / "config.rs").read_text()))
    assert documented, "no TFREG_* variables documented in origin/src/lambda/config.rs"
    # TFREG_ENDPOINT_URL points the SDK at a local stand-in in tests; never set on AWS.
    assert documented - {"TFREG_ENDPOINT_URL"} <= env


def test_function_url_is_guarded_by_the_origin_secret(module):
    url = blocks_of(module, "resource", "aws_lambda_function_url")["origin"]
    assert url["authorization_type"] == "NONE"
    env = origin_environment(module)
    assert expr(env["TFREG_ORIGIN_SECRET"]) == "local.origin_secret"
    assert expr(merged_locals(module)["edge_config"]["origin_secret"]) == "local.origin_secret"


# Inputs and outputs.

@pytest.mark.parametrize("directory", [MODULE, EXAMPLE], ids=["module", "example"])
def test_every_variable_has_a_type_and_a_description(directory):
    variables = {name: body for entry in parse_dir(directory).get("variable", []) for name, body in entry.items()}
    assert variables
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"


@pytest.mark.parametrize("directory", [MODULE, EXAMPLE], ids=["module", "example"])
def test_every_output_has_a_description(directory):
    outputs = {name: body for entry in parse_dir(directory).get("output", []) for name, body in entry.items()}
    assert outputs
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_required_outputs_exist(module):
    outputs = {name for entry in module["output"] for name in entry}
    assert {
        "registry_url",
        "master_token_secret_arn",
        "s3_bucket_name",
        "dynamodb_table_name",
        "cloudfront_distribution_id",
        "cloudfront_domain_name",
        "custom_domain_target",
    } <= outputs


# The example.

def test_example_calls_the_module_with_the_us_east_1_alias(example):
    call = example["module"][0]["registry"]
    assert (EXAMPLE / call["source"]).resolve() == MODULE
    providers = {expr(k): expr(v) for k, v in call["providers"].items()}
    assert providers.get("aws.us_east_1") == "aws.us_east_1"
    aliased = [p["aws"] for p in example["provider"] if "alias" in p["aws"]]
    assert any(p["alias"] == "us_east_1" and p["region"] == "us-east-1" for p in aliased)
