"""Structural tests of the deployment module: what must hold in terraform/ that `terraform
validate` and `plan` would not tell (and cannot run here: the AWS provider is not available
offline). The HCL is parsed with python-hcl2; expressions come back as "${...}" strings.

Run: .venv/bin/python -m pytest terraform/tests
"""

import hashlib
import json
import math
import os
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import hcl2
import pytest

MODULE = Path(__file__).resolve().parents[1]
REPO = MODULE.parent
EXAMPLE = MODULE / "examples" / "complete"

DISCOVERY_BYTES = b'{"modules.v1":"/v1/modules/"}'


def parse_dir(directory):
    """All top-level blocks of the .tf files in `directory`, merged by block type."""
    merged = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for key, blocks in hcl2.load(f).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def expr(value):
    """A parsed expression without its "${...}" wrapper, so references compare as text."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{(.*)\}", value, re.S)
        return match.group(1) if match else value
    return value


def blocks_of(parsed, kind, type_name):
    """{name: body} of every `kind "type_name" "name"` block (resource or data)."""
    found = {}
    for entry in parsed.get(kind, []):
        for name, body in entry.get(type_name, {}).items():
            found[name] = body
    return found


def one(items):
    """The body of a nested block that occurs once (python-hcl2 gives blocks as lists)."""
    assert isinstance(items, list) and len(items) == 1, items
    return items[0]


def merged_locals(parsed):
    out = {}
    for entry in parsed.get("locals", []):
        out.update(entry)
    return out


@pytest.fixture(scope="module")
def module():
    return parse_dir(MODULE)


@pytest.fixture(scope="module")
def example():
    return parse_dir(EXAMPLE)


@pytest.fixture(scope="module")
def distribution(module):
    return blocks_of(module, "resource", "aws_cloudfront_distribution")["registry"]


def behaviour(distribution, pattern):
    for entry in distribution["ordered_cache_behavior"]:
        if entry["path_pattern"] == pattern:
            return entry
    raise AssertionError(f"no cache behaviour for {pattern}")


def viewer_request_lambdas(entry):
    return [
        expr(assoc["lambda_arn"])
        for assoc in entry.get("lambda_function_association", [])
        if assoc["event_type"] == "viewer-request"
    ]


def policy_ref(value, kind):
    match = re.fullmatch(rf"{kind}\.(\w+)\.id", expr(value))
    assert match, f"{value} is not a reference to a {kind}"
    return match.group(1)


# The edge check: where it runs, and where it must not.

def test_token_check_runs_on_every_v1_request(distribution):
    api = behaviour(distribution, "/v1/*")
    assert viewer_request_lambdas(api) == ["aws_lambda_function.edge.qualified_arn"]
    assert all(a["include_body"] is False for a in api["lambda_function_association"])
    assert expr(api["target_origin_id"]) == "local.lambda_origin_id"


def test_archives_cannot_be_fetched_without_the_signature_check(distribution):
    archives = behaviour(distribution, "/archives/*")
    cloudfront_functions = [
        f for f in archives.get("function_association", []) if f["event_type"] == "viewer-request"
    ]
    assert viewer_request_lambdas(archives) == ["aws_lambda_function.edge.qualified_arn"] or cloudfront_functions
    assert expr(archives["target_origin_id"]) == "local.s3_origin_id"
    assert set(archives["allowed_methods"]) == {"GET", "HEAD"}


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
    assert expr(obj["content"]) == 'file("${path.module}/discovery.json")'
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


def test_api_is_cached_at_most_a_minute_on_the_path_alone(distribution, module):
    name = policy_ref(behaviour(distribution, "/v1/*")["cache_policy_id"], "aws_cloudfront_cache_policy")
    policy = blocks_of(module, "resource", "aws_cloudfront_cache_policy")[name]
    assert (policy["min_ttl"], policy["default_ttl"], policy["max_ttl"]) == (0, 0, 60)
    key = one(policy["parameters_in_cache_key_and_forwarded_to_origin"])
    assert one(key["query_strings_config"])["query_string_behavior"] == "none"
    assert one(key["headers_config"])["header_behavior"] == "none"
    assert one(key["cookies_config"])["cookie_behavior"] == "none"
    assert set(behaviour(distribution, "/v1/*")["cached_methods"]) == {"GET", "HEAD"}


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


def origin_environment(module):
    """{name: expression} of the origin Lambda's environment variables: the settings and the two
    secrets, merged in a local (lambda_origin.tf) that the plan also measures."""
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    assert expr(one(origin["environment"])["variables"]) == "local.origin_environment"
    local = merged_locals(module)
    assert expr(local["origin_environment"]) == "merge(local.origin_settings, local.origin_secrets)"
    settings, secrets = local["origin_settings"], local["origin_secrets"]
    assert not set(settings) & set(secrets)
    return {**settings, **secrets}


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


# The Python registry's Terraform interface (issue 15; compat.tf): its users' roots keep
# planning. Names from terraform-aws-serverless-module-registry's variables.tf and outputs.tf.

EXAMPLES = MODULE / "examples"
PYTHON_REGISTRY_OUTPUTS = ("api_endpoint", "master_token_secret_arn", "s3_bucket_name", "custom_domain_regional_domain_name")
PYTHON_REGISTRY_INPUTS = (
    "domain_name",
    "certificate_arn",
    "proxy_enabled",
    "proxy_allow_list",
    "proxy_deny_list",
    "s3_bucket_name",
    "token_table_name",
    "master_token_secret_name",
)


def outputs_of(parsed):
    return {name: body for entry in parsed.get("output", []) for name, body in entry.items()}


def test_python_registry_outputs_exist_with_their_meaning_here(module):
    outputs = outputs_of(module)
    for name in PYTHON_REGISTRY_OUTPUTS + ("custom_domain_regional_zone_id", "s3_bucket_arn", "dynamodb_table_name"):
        assert name in outputs, name
        assert str(outputs[name].get("description", "")).strip(), name
    # The base URL, as registry_url: https://<custom domain or distribution domain name>.
    assert outputs["api_endpoint"]["value"] == outputs["registry_url"]["value"] == "https://${local.registry_host}"
    assert expr(merged_locals(module)["registry_host"]) == (
        "local.custom_domain ? var.domain_name : aws_cloudfront_distribution.registry.domain_name"
    )
    # The DNS target of the custom domain is the distribution, and the description says so.
    target = outputs["custom_domain_regional_domain_name"]
    assert expr(target["value"]) == "aws_cloudfront_distribution.registry.domain_name"
    assert "CloudFront" in target["description"] and "not a regional API Gateway" in target["description"]
    zone = outputs["custom_domain_regional_zone_id"]
    assert expr(zone["value"]) == "aws_cloudfront_distribution.registry.hosted_zone_id"
    assert "Z2FDTNDATAQYW2" in zone["description"]
    assert expr(outputs["master_token_secret_arn"]["value"]) == "aws_secretsmanager_secret.master_token.arn"
    assert expr(outputs["s3_bucket_name"]["value"]) == "aws_s3_bucket.archives.id"
    assert expr(outputs["s3_bucket_arn"]["value"]) == "aws_s3_bucket.archives.arn"


def test_python_registry_inputs_are_all_accepted_and_optional(module):
    variables = variables_of(module)
    for name in PYTHON_REGISTRY_INPUTS:
        assert name in variables, name
        assert "default" in variables[name], f"{name} is required here; in a Python registry root it may be unset"


def test_token_table_name_is_an_alias_of_dynamodb_table_name(module):
    alias = variables_of(module)["token_table_name"]
    assert alias["type"] == "string" and alias["default"] is None
    compat = parse_dir_files(MODULE / "compat.tf")
    assert "token_table_name" in variables_of(compat), "the alias lives in compat.tf"
    # Wired: the table takes its name from either input, dynamodb_table_name first.
    local = merged_locals(module)
    assert expr(local["table_name"]) == 'coalesce(var.dynamodb_table_name, var.token_table_name, "${var.name_prefix}-tokens")'
    assert blocks_of(module, "resource", "aws_dynamodb_table")["tokens"]["name"] == "${local.table_name}"
    # Both set and different fails the plan; any other combination plans.
    condition = plan_check(local["token_table_name_check"])
    for dynamodb, token, ok in (
        (None, None, True),
        ("a-tokens", None, True),
        (None, "se-registry-tokens", True),
        ("same", "same", True),
        ("a-tokens", "se-registry-tokens", False),
    ):
        assert bool(evaluate_hcl(condition, {"dynamodb_table_name": dynamodb, "token_table_name": token})) is ok
    assert "token_table_name" in expr(local["token_table_name_check"]).split("file(", 1)[1]
    assert expr(outputs_of(module)["token_table_name_check"]["value"]) == "local.token_table_name_check"
    assert validation_regex(alias) == validation_regex(variables_of(module)["dynamodb_table_name"])


def test_python_registry_empty_bucket_name_means_the_default(module):
    condition = expr(validation_of(module, "s3_bucket_name"))
    assert 'var.s3_bucket_name == ""' in condition
    # coalesce() skips "" as well as null.
    assert expr(merged_locals(module)["bucket_name"]).startswith("coalesce(var.s3_bucket_name, ")


@pytest.mark.parametrize("name", ["proxy_allow_list", "proxy_deny_list", "proxy_local_only"])
def test_python_registry_trailing_slash_prefixes_reach_the_origin_without_it(module, name):
    local = merged_locals(module)
    assert expr(local[name]) == f'[for entry in var.{name} : trimsuffix(entry, "/")]'
    env = {key: expr(value) for key, value in origin_environment(module).items()}
    assert env[f"TFREG_{name.upper()}"] == f'join(",", local.{name})'
    assert re.compile(validation_regex(variables_of(module)[name])).fullmatch("hashicorp/")


def certificate_validations(module):
    """(format regex, region condition) of certificate_arn's two validation blocks."""
    blocks = variables_of(module)["certificate_arn"]["validation"]
    assert len(blocks) == 2, blocks
    form, region = blocks
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', form["condition"]).group(1).replace("\\\\", "\\")
    return re.compile(pattern), region


def region_condition_accepts(region, arn):
    """The region validation's condition, evaluated in Python as Terraform would."""
    text = expr(region["condition"])
    match = re.fullmatch(r"var\.certificate_arn == (?:null|None) \? (?:true|True) : (.*)", text)
    assert match, text
    body = re.sub(r'try\((.*), ("[^"]*")\)', r"_try(lambda: \1, \2)", match.group(1))
    body = body.replace("var.certificate_arn", "arn")

    def _try(thunk, default):
        try:
            return thunk()
        except (IndexError, AttributeError):
            return default

    scope = {"__builtins__": {}, "arn": arn, "split": lambda sep, text: text.split(sep), "_try": _try}
    return True if arn is None else bool(eval(body, scope))


def test_certificate_from_another_region_fails_the_plan_naming_us_east_1(module):
    form, region = certificate_validations(module)
    # The region is read from the ARN's region field, not matched anywhere in the string.
    assert 'split(":", var.certificate_arn)[3]' in region["condition"]
    message = region["error_message"]
    assert "region other than us-east-1" in message and "CloudFront" in message and "Python registry" in message
    # Terraform 1.0: a sentence, starting with a capital and ending with a period.
    assert message[0].isupper() and message.endswith(".")
    ours = "arn:aws:acm:us-east-1:123456789012:certificate/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    regional = "arn:aws:acm:eu-west-1:123456789012:certificate/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    # A well-formed certificate from the Python registry's region: the format passes, the region does not.
    assert form.fullmatch(regional) and not region_condition_accepts(region, regional)
    assert form.fullmatch(ours) and region_condition_accepts(region, ours)
    assert region_condition_accepts(region, None)
    # A malformed ARN gets the format's message, not the region's.
    assert not form.fullmatch("arn:aws:acm") and region_condition_accepts(region, "arn:aws:acm")
    assert "us-east-1" in variables_of(module)["certificate_arn"]["description"]


def parse_dir_files(*paths):
    merged = {}
    for path in paths:
        with path.open() as f:
            for key, blocks in hcl2.load(f).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


@pytest.mark.parametrize("name", ["basic", "proxy-mode"])
def test_python_registry_examples_are_complete_root_modules(module, name):
    directory = EXAMPLES / name
    parsed = parse_dir(directory)
    call = parsed["module"][0]["registry"]
    assert (directory / call["source"]).resolve() == MODULE
    providers = {expr(k): expr(v) for k, v in call["providers"].items()}
    assert providers == {"aws": "aws", "aws.us_east_1": "aws.us_east_1"}
    aliased = [p["aws"] for p in parsed["provider"] if "alias" in p["aws"]]
    assert any(p["alias"] == "us_east_1" and p["region"] == "us-east-1" for p in aliased)
    versions = one(parsed["terraform"])
    assert one(versions["required_providers"])["aws"]["version"] == ">= 6.28, < 7.0"
    # Every argument is an input of the module, and every output it reads exists.
    module_variables = variables_of(module)
    assert set(call) - {"source", "providers"} <= set(module_variables)
    assert {"domain_name", "certificate_arn"} <= set(call)
    if name == "proxy-mode":
        assert call["proxy_enabled"] is True
        assert {"proxy_allow_list", "proxy_deny_list", "proxy_local_only"} <= set(call)
        example_variables = variables_of(parsed)
        for list_name, variable in (
            ("proxy_allow_list", "proxy_allow_list"),
            ("proxy_deny_list", "proxy_deny_list"),
            ("proxy_local_only", "private_namespaces"),
        ):
            assert expr(call[list_name]) == f"var.{variable}"
            pattern = re.compile(validation_regex(module_variables[list_name]))
            for entry in example_variables[variable]["default"]:
                assert pattern.fullmatch(entry), entry
        # Written as the Python registry's example wrote them.
        assert any(entry.endswith("/") for entry in example_variables["proxy_allow_list"]["default"])
    outputs = outputs_of(parsed)
    assert set(PYTHON_REGISTRY_OUTPUTS) <= set(outputs)
    module_outputs = outputs_of(module)
    for output_name, body in outputs.items():
        assert str(body.get("description", "")).strip(), output_name
        read = re.fullmatch(r"module\.registry\.(\w+)", expr(body["value"]))
        assert read and read.group(1) in module_outputs, output_name
    for output_name in PYTHON_REGISTRY_OUTPUTS:
        assert expr(outputs[output_name]["value"]) == f"module.registry.{output_name}"
    for variable_name, body in variables_of(parsed).items():
        assert body.get("type") and str(body.get("description", "")).strip(), variable_name


def test_readme_explains_the_switch_from_the_python_registry():
    readme = (MODULE / "README.md").read_text()
    assert "## Switching from the Python registry" in readme
    section = readme.split("## Switching from the Python registry", 1)[1].split("\n## ", 1)[0]
    for name in PYTHON_REGISTRY_OUTPUTS + PYTHON_REGISTRY_INPUTS + ("custom_domain_regional_zone_id", "dynamodb_table_name"):
        assert f"`{name}`" in section, name
    for needed in ("us-east-1", "tfreg migrate-from-seed", "Lambda@Edge", "aws.us_east_1", "examples/basic", "examples/proxy-mode"):
        assert needed in section, needed


TERRAFORM = REPO / ".venv" / "bin" / "terraform"


@pytest.fixture(scope="module")
def compat_root(tmp_path_factory):
    """A root module of variables.tf and compat.tf alone (no resources, so no provider to
    download), planned by the real Terraform CLI (1.0.3 from tests/setup.sh): the validations
    and the plan-failing check run exactly as in a plan of the whole module."""
    if not TERRAFORM.exists():
        pytest.skip("no .venv/bin/terraform (bash tests/setup.sh installs it)")
    root = tmp_path_factory.mktemp("compat-root")
    shutil.copy(MODULE / "variables.tf", root)
    shutil.copy(MODULE / "compat.tf", root)
    (root / "outputs.tf").write_text(
        'output "token_table_name_check" {\n  value = local.token_table_name_check\n}\n'
        'output "proxy_allow_list" {\n  value = join(",", local.proxy_allow_list)\n}\n'
    )
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    subprocess.run([str(TERRAFORM), "init", "-no-color"], cwd=root, env=env, check=True, capture_output=True)

    def plan(*variables):
        args = [str(TERRAFORM), "plan", "-no-color", "-input=false"]
        for name, value in variables:
            args += ["-var", f"{name}={value}"]
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
        return done.returncode, " ".join((done.stdout + done.stderr).split())

    return plan


def test_cli_refuses_a_certificate_from_another_region_saying_why(compat_root):
    code, out = compat_root(("certificate_arn", "arn:aws:acm:eu-west-1:123456789012:certificate/aaaa-bbbb"))
    assert code == 1
    assert "region other than us-east-1" in out and "CloudFront only takes certificates from us-east-1" in out
    code, out = compat_root(("certificate_arn", "arn:aws:acm:us-east-1:123456789012:certificate/aaaa-bbbb"))
    assert code == 0, out
    code, out = compat_root(("certificate_arn", "not-an-arn"))
    assert code == 1 and "must be an ACM certificate ARN" in out and "region other than" not in out


def test_cli_fails_the_plan_when_both_table_names_differ(compat_root):
    code, out = compat_root(("token_table_name", "se-registry-tokens"), ("dynamodb_table_name", "tfreg-tokens"))
    assert code == 1 and "token_table_name (the Python registry's input) and dynamodb_table_name are both set and differ" in out
    for variables in ((("token_table_name", "se-registry-tokens"),), (("token_table_name", "old-tokens"), ("dynamodb_table_name", "old-tokens"))):
        code, out = compat_root(*variables)
        assert code == 0 and 'token_table_name_check = "ok"' in out, out


def test_cli_takes_the_python_registry_proxy_syntax_and_empty_bucket_name(compat_root):
    code, out = compat_root(
        ("proxy_allow_list", '["hashicorp/", "myorg/vpc", "terraform-aws-modules"]'),
        ("s3_bucket_name", ""),
    )
    assert code == 0, out
    assert 'proxy_allow_list = "hashicorp,myorg/vpc,terraform-aws-modules"' in out


# The artifacts the module deploys by default.

def test_default_artifact_paths_exist_after_packaging(module):
    local = merged_locals(module)
    origin_default = re.search(r'"\$\{path\.module\}/([^"]+)"', expr(local["origin_zip_path"])).group(1)
    edge_default = re.search(r'"\$\{path\.module\}/([^"]+)"', expr(local["edge_bundle_dir"])).group(1)
    origin_zip = (MODULE / origin_default).resolve()
    edge_dir = (MODULE / edge_default).resolve()
    assert origin_zip == REPO / "dist" / "origin.zip"
    assert edge_dir == REPO / "dist" / "edge-bundle"
    if not origin_zip.exists():
        pytest.skip("dist/origin.zip not built (run bash cloudfront/package.sh); tests/run.sh runs this after packaging")
    with zipfile.ZipFile(origin_zip) as z:
        assert "bootstrap" in z.namelist()
    if not edge_dir.exists():
        pytest.skip("dist/edge-bundle/ not built by this cloudfront/package.sh yet")
    assert (edge_dir / "index.mjs").is_file()
    assert (edge_dir / "edge.wasm").is_file()


# Proxy and pinning.

def variables_of(parsed):
    return {name: body for entry in parsed["variable"] for name, body in entry.items()}


def evaluate(expression, values):
    """Evaluates a small Terraform expression (arithmetic, comparisons, !, &&, ||, min, max,
    floor over var.*) in Python, so that a relation between variables is checked for every
    value rather than read as text."""
    text = expr(expression)
    text = re.sub(r"var\.(\w+)", lambda m: f"var[{m.group(1)!r}]", text)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    return eval(text, {"__builtins__": {}, "min": min, "max": max, "floor": math.floor, "var": values})


def plan_check(value):
    """The condition of a `cond ? "ok" : file("ERROR: …")` check local, which fails the plan
    (file of a missing path) when the condition is false."""
    match = re.fullmatch(r'(.*) \? "ok" : file\(\s*"ERROR: [^"]+"\s*\)', expr(value), re.S)
    assert match, f"{value} is not a plan-failing check"
    return match.group(1)


def validation_regex(variable):
    condition = expr(one(variable["validation"])["condition"])
    return re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1).replace("\\\\", "\\")


PROXY_ENV = {
    "TFREG_PROXY_ENABLED": "tostring(var.proxy_enabled)",
    "TFREG_PROXY_UPSTREAM": "var.proxy_upstream_url",
    "TFREG_PROXY_GITHUB_ARCHIVE_URL": "var.proxy_github_archive_url",
    "TFREG_PROXY_ALLOW_LIST": 'join(",", local.proxy_allow_list)',  # compat.tf: without a trailing "/"
    "TFREG_PROXY_DENY_LIST": 'join(",", local.proxy_deny_list)',  # compat.tf: without a trailing "/"
    "TFREG_PROXY_LOCAL_ONLY": 'join(",", local.proxy_local_only)',
    "TFREG_PROXY_TIMEOUT_SECS": "tostring(var.proxy_timeout_seconds)",
    "TFREG_PROXY_MAX_ARCHIVE_BYTES": "tostring(var.proxy_max_archive_bytes)",
}


def test_origin_gets_every_proxy_setting(module):
    env = {name: expr(value) for name, value in origin_environment(module).items()}
    for name, expected in PROXY_ENV.items():
        assert env.get(name) == expected, name


def test_proxy_defaults_match_the_origin_defaults(module):
    variables = variables_of(module)
    assert variables["proxy_enabled"]["default"] is False
    assert variables["proxy_upstream_url"]["default"] == "https://registry.terraform.io"
    assert variables["proxy_github_archive_url"]["default"] == "https://codeload.github.com"
    for name in ("proxy_allow_list", "proxy_deny_list", "proxy_local_only"):
        assert variables[name]["default"] == [], name
    assert variables["proxy_timeout_seconds"]["default"] == 20
    assert variables["proxy_max_archive_bytes"]["default"] == 104857600
    assert variables["proxy_cache_days"]["default"] == 30


@pytest.mark.parametrize("name", ["proxy_allow_list", "proxy_deny_list", "proxy_local_only"])
def test_proxy_lists_take_whole_segment_prefixes(module, name):
    pattern = re.compile(validation_regex(variables_of(module)[name]))
    for entry in ("acme", "acme/vpc", "acme/vpc/aws", "terraform-aws-modules/vpc/aws", "a_b/c-d/e2", "x" * 64):
        assert pattern.fullmatch(entry), entry
        # The Python registry's syntax for a namespace (compat.tf strips the "/").
        assert pattern.fullmatch(entry + "/"), entry + "/"
    for entry in (
        "",
        "Acme",  # namespaces and names are lowercase
        "acme/*/aws",  # the old pattern syntax: a shorter prefix is the wildcard now
        "*",
        "acme//",
        "/acme",
        "-acme",
        "acme/vpc/aws/extra",
        "acme/vpc/aws-x",  # a system is letters and digits only
        "acme vpc",
        "acme,vpc",  # the list is joined with commas; an entry must not contain one
        "x" * 65,
    ):
        assert not pattern.fullmatch(entry), entry


@pytest.mark.parametrize("name", ["proxy_upstream_url", "proxy_github_archive_url"])
def test_proxy_urls_are_https_without_trailing_slash_or_query(module, name):
    variable = variables_of(module)[name]
    pattern = re.compile(validation_regex(variable))
    assert pattern.fullmatch(variable["default"])
    for url in ("https://registry.example.com", "https://mirror.example.com:8443/github"):
        assert pattern.fullmatch(url), url
    for url in (
        "http://registry.terraform.io",
        "https://registry.terraform.io/",
        "https://codeload.github.com/",
        "https://registry.example.com/mirror/",
        "https://registry.example.com?x=1",
        "https://registry.example.com#frag",
        "https://user@registry.example.com",
        "registry.terraform.io",
    ):
        assert not pattern.fullmatch(url), url


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    [("proxy_timeout_seconds", 1, 60), ("proxy_cache_days", 1, 3650)],
)
def test_proxy_numbers_are_validated_whole_and_bounded(module, name, lowest, highest):
    condition = one(variables_of(module)[name]["validation"])["condition"]
    assert evaluate(condition, {name: lowest}) and evaluate(condition, {name: highest})
    for bad in (lowest - 1, highest + 1, lowest + 0.5):
        assert not evaluate(condition, {name: bad}), bad


def test_origin_timeout_leaves_the_proxy_its_timeout_plus_five_seconds(module):
    check = merged_locals(module)["proxy_timeout_check"]
    condition = plan_check(check)
    assert evaluate(condition, {"proxy_enabled": True, "origin_timeout_seconds": 25, "proxy_timeout_seconds": 20})
    assert not evaluate(condition, {"proxy_enabled": True, "origin_timeout_seconds": 24, "proxy_timeout_seconds": 20})
    assert not evaluate(condition, {"proxy_enabled": True, "origin_timeout_seconds": 60, "proxy_timeout_seconds": 60})
    # Without the proxy, the function's timeout is the operator's business.
    assert evaluate(condition, {"proxy_enabled": False, "origin_timeout_seconds": 3, "proxy_timeout_seconds": 60})
    # The check fails the plan only if something evaluates it: the module outputs it.
    outputs = {name: body for entry in module["output"] for name, body in entry.items()}
    assert expr(outputs["proxy_timeout_check"]["value"]) == "local.proxy_timeout_check"
    # The defaults pass it.
    defaults = {name: body.get("default") for name, body in variables_of(module).items()}
    assert evaluate(condition, {**defaults, "proxy_enabled": True})


def test_cloudfront_waits_at_least_as_long_as_the_origin_lambda(module, distribution):
    lambda_origin = next(o for o in distribution["origin"] if expr(o["origin_id"]) == "local.lambda_origin_id")
    read_timeout = one(lambda_origin["custom_origin_config"])["origin_read_timeout"]
    assert expr(read_timeout) == "local.origin_read_timeout"
    read_timeout = merged_locals(module)["origin_read_timeout"]
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    assert expr(origin["timeout"]) == "var.origin_timeout_seconds"
    validation = one(variables_of(module)["origin_timeout_seconds"]["validation"])["condition"]
    allowed = [t for t in range(0, 1000) if evaluate(validation, {"origin_timeout_seconds": t})]
    assert allowed and max(allowed) <= 60  # CloudFront's ceiling without a quota increase
    for timeout in allowed:
        cloudfront = evaluate(read_timeout, {"origin_timeout_seconds": timeout})
        assert timeout <= cloudfront <= 60, (timeout, cloudfront)
        assert cloudfront >= 30  # never below CloudFront's default, the value before this variable
        if timeout < 60:
            assert cloudfront > timeout, timeout  # the function's own answer arrives first


def test_proxy_cache_expires_and_nothing_else_under_archives_does(module):
    local = merged_locals(module)
    assert local["archive_prefix"] == "archives/"
    assert expr(local["proxy_cache_prefix"]) == "${local.archive_prefix}_proxy/"
    lifecycle = blocks_of(module, "resource", "aws_s3_bucket_lifecycle_configuration")["archives"]
    rules = {rule["id"]: rule for rule in lifecycle["rule"]}
    cache = rules["expire-proxy-cache"]
    assert cache["status"] == "Enabled"
    assert expr(one(cache["filter"])["prefix"]) == "local.proxy_cache_prefix"
    assert expr(one(cache["expiration"])["days"]) == "var.proxy_cache_days"
    assert one(cache["noncurrent_version_expiration"])["noncurrent_days"] <= 7
    # Current versions expire only under staging/ and the proxy cache: uploads and pins are
    # durable.
    for rule in lifecycle["rule"]:
        if "expiration" in rule:
            prefix = expr(one(rule["filter"]).get("prefix", ""))
            assert prefix in ("local.staging_prefix", "local.proxy_cache_prefix"), rule["id"]


def test_proxy_cache_is_served_by_the_archive_behaviour(module, distribution):
    # CloudFront reads the cache with the same bucket-policy grant and cache behaviour as every
    # archive: the cache prefix lies under archives/.
    assert expr(merged_locals(module)["proxy_cache_prefix"]).startswith("${local.archive_prefix}")
    doc = blocks_of(module, "data", "aws_iam_policy_document")["archives_bucket"]
    cloudfront_reads = next(s for s in doc["statement"] if s.get("sid") == "CloudFrontReadsArchivesAndDiscovery")
    assert "${aws_s3_bucket.archives.arn}/${local.archive_prefix}*" in cloudfront_reads["resources"]
    assert behaviour(distribution, "/archives/*")


def origin_grants(module):
    """{action: [resource, ...]} of the origin role's policy."""
    doc = blocks_of(module, "data", "aws_iam_policy_document")["origin"]
    grants = {}
    for statement in doc["statement"]:
        assert statement.get("effect", "Allow") == "Allow"
        for action in statement["actions"]:
            grants.setdefault(action, []).extend(expr(r) for r in statement["resources"])
    return grants


def test_origin_may_delete_unpinned_archives_and_finalized_staging(module):
    deletable = origin_grants(module)["s3:DeleteObject"]
    assert sorted(deletable) == sorted([
        "${aws_s3_bucket.archives.arn}/${local.archive_prefix}*",
        "${aws_s3_bucket.archives.arn}/${local.staging_prefix}*",
    ])
    # Only objects: never the bucket, its policy or its versions.
    grants = origin_grants(module)
    for action in ("s3:DeleteObjectVersion", "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration"):
        assert action not in grants, action


def test_origin_can_keep_pin_records_in_the_token_table(module):
    grants = origin_grants(module)
    for action in ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:Scan"):
        assert grants.get(action) == ["aws_dynamodb_table.tokens.arn"], action


def test_example_shows_the_proxy_settings(example, module):
    call = example["module"][0]["registry"]
    proxy_variables = {name for name in variables_of(module) if name.startswith("proxy_")}
    assert proxy_variables <= set(call), proxy_variables - set(call)


# Issue 14: what a first apply, later plans, a destroy and abuse on a real account need.

def hcl_to_python(text):
    """A small Terraform expression as Python: conditionals (`c ? a : b`, right-associative,
    lowest precedence), &&, ||, !, null, true and false. Strings must not contain ?, : or
    parentheses (plan_check takes the file("ERROR: …") branches off first)."""
    text = text.strip()
    depth, question = 0, -1
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "?" and depth == 0:
            question = i
            break
    if question >= 0:
        depth, nested = 0, 0
        for i in range(question + 1, len(text)):
            c = text[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == "?" and depth == 0:
                nested += 1
            elif c == ":" and depth == 0:
                if nested == 0:
                    condition, then, otherwise = text[:question], text[question + 1:i], text[i + 1:]
                    return f"(({hcl_to_python(then)}) if ({hcl_to_python(condition)}) else ({hcl_to_python(otherwise)}))"
                nested -= 1
        raise AssertionError(f"no ':' for the '?' in {text}")
    # No conditional at this level: convert the parenthesized groups inside, then the operators.
    out, i = [], 0
    while i < len(text):
        if text[i] == "(":
            depth, j = 0, i
            while True:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append("(" + hcl_to_python(text[i + 1:j]) + ")")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    text = "".join(out)
    text = re.sub(r"\b(var|local)\.(\w+)", lambda m: f"{m.group(1)}[{m.group(2)!r}]", text)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    text = re.sub(r"\bnull\b", "None", text)
    text = re.sub(r"\btrue\b", "True", text)
    return re.sub(r"\bfalse\b", "False", text)


def evaluate_hcl(expression, var=None, local=None):
    """evaluate(), with conditionals, null, contains() and local.* as well."""
    scope = {
        "__builtins__": {},
        "min": min,
        "max": max,
        "floor": math.floor,
        "contains": lambda items, value: value in items,
        "var": var or {},
        "local": local or {},
    }
    return eval(hcl_to_python(expr(expression)), scope)


def test_hcl_to_python_reads_conditionals_as_terraform_does():
    # Right-associative, lowest precedence: the else branch runs to the end.
    assert evaluate_hcl("var.a ? 1 : var.b ? 2 : 3", {"a": False, "b": True}) == 2
    assert evaluate_hcl("var.a == null ? true : (var.a >= 7) && var.a <= 9", {"a": 10}) is False
    assert evaluate_hcl("var.a != null ? var.a : (var.b ? 0 : 7)", {"a": None, "b": False}) == 7


def validation_of(module, name):
    return one(variables_of(module)[name]["validation"])["condition"]


def accepts(module, name, value):
    return bool(evaluate_hcl(validation_of(module, name), {name: value}))


# 1. The edge runtime.

# The Node.js runtimes AWS lists for Lambda and, through the CloudFront guide, for Lambda@Edge
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html,
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-at-edge-function-restrictions.html),
# without nodejs20.x: deprecated on 2026-04-30, no new functions on it from 2026-08-31.
EDGE_NODE_RUNTIMES = {"nodejs22.x", "nodejs24.x"}


def test_edge_runtime_defaults_to_nodejs22_and_refuses_nodejs20(module):
    runtime = variables_of(module)["edge_runtime"]
    assert runtime["default"] == "nodejs22.x"
    condition = expr(validation_of(module, "edge_runtime"))
    match = re.fullmatch(r"contains\(\[([^\]]*)\], var\.edge_runtime\)", condition)
    assert match, condition
    # python-hcl2 may or may not keep the quotes of strings inside an expression.
    offered = {r.strip().strip('"') for r in match.group(1).split(",")}
    assert offered == EDGE_NODE_RUNTIMES
    assert "nodejs20.x" not in offered


def test_terraform_readme_does_not_offer_nodejs20():
    readme = (MODULE / "README.md").read_text()
    assert "nodejs22.x" in readme
    for line in readme.splitlines():
        if "nodejs20.x" in line:
            assert re.search(r"deprecated|refuse|not ", line), line


# 2. Plans that settle: the edge function's source_code_hash is known when planning.

RESOURCE_REF = re.compile(
    r"(?<![\w.\"/-])((?:data\.)?(?:aws|random|null|local|archive|time)_\w+\.\w+(?:\.\w+)?|var\.\w+|path\.\w+|local\.\w+)"
)

# Values a plan knows on any runner once the deployment exists: a data source read while
# planning (it waits on nothing), a configured name, and random values kept in state.
PLAN_KNOWN = {
    "data.aws_region.current.region",
    "data.aws_caller_identity.current.account_id",
    "aws_dynamodb_table.tokens.name",
    "random_id.signing_key.hex",
    "random_password.origin_secret.result",
}


def references(module, value, seen=None):
    """Every reference a value makes, with locals followed to what they are made of."""
    seen = set() if seen is None else seen
    local = merged_locals(module)
    found = set()
    values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, (dict, list)):
            found |= references(module, item, seen)
            continue
        if not isinstance(item, str):
            continue
        for ref in RESOURCE_REF.findall(item):
            if ref.startswith("local."):
                name = ref.split(".")[1]
                if name not in seen:
                    seen.add(name)
                    found |= references(module, local[name], seen)
            else:
                found.add(ref)
    return found


def test_edge_source_code_hash_is_known_when_planning(module):
    edge = blocks_of(module, "resource", "aws_lambda_function")["edge"]
    assert expr(edge["source_code_hash"]) == "local.edge_source_code_hash"
    refs = references(module, edge["source_code_hash"])
    others = {r for r in refs if not r.startswith(("var.", "path."))}
    assert others <= PLAN_KNOWN, others - PLAN_KNOWN
    # The zip's path is the same string on every runner: relative to the root module.
    assert expr(edge["filename"]) == "local.edge_zip_path"
    assert merged_locals(module)["edge_zip_path"].startswith("${path.root}/.terraform/")
    assert "abspath" not in merged_locals(module)["edge_zip_path"]


def test_edge_source_code_hash_covers_every_file_of_the_zip(module):
    local = merged_locals(module)
    assert expr(local["edge_source_code_hash"]) == "base64sha256(local.edge_bundle_manifest)"
    manifest = local["edge_bundle_manifest"]
    assert "config.json ${nonsensitive(sha256(local.edge_config_json))}" in manifest
    assert "edge.wasm ${local.edge_wasm_sha256}" in manifest
    assert "index.mjs ${local.edge_index_sha256}" in manifest
    assert expr(local["edge_config_json"]) == "jsonencode(local.edge_config)"
    assert expr(local["edge_wasm_sha256"]) == 'filesha256("${local.edge_bundle_dir}/edge.wasm")'
    assert expr(local["edge_index_sha256"]) == 'filesha256("${local.edge_bundle_dir}/index.mjs")'
    # The script zips exactly those three, config.json from the text the hash was taken of.
    script = (MODULE / "scripts" / "build-edge-zip.sh").read_text()
    assert '("index.mjs", "edge.wasm", "config.json")' in script
    builder = blocks_of(module, "resource", "null_resource")["edge_zip"]
    env = one(builder["provisioner"])["local-exec"]["environment"]
    assert expr(env["TFREG_EDGE_CONFIG_JSON"]) == "local.edge_config_json"
    assert expr(env["TFREG_EDGE_INDEX_SHA256"]) == "local.edge_index_sha256"
    assert expr(env["TFREG_EDGE_WASM_SHA256"]) == "local.edge_wasm_sha256"


def test_no_local_file_or_waiting_archive_feeds_the_edge_function(module):
    # local_file resources are missing on every fresh runner, so they are planned again, and a
    # data source that depends_on them is read only at apply: its hash unknown on every plan.
    for kind in ("local_file", "local_sensitive_file"):
        assert not blocks_of(module, "resource", kind), kind
    for name, archive in blocks_of(module, "data", "archive_file").items():
        assert "depends_on" not in archive, name
    edge = blocks_of(module, "resource", "aws_lambda_function")["edge"]
    assert not any("archive_file" in ref for ref in references(module, [edge["filename"], edge["source_code_hash"]]))


def test_edge_zip_is_written_when_its_hash_changes_before_the_function_needs_it(module):
    builder = blocks_of(module, "resource", "null_resource")["edge_zip"]
    assert expr(builder["triggers"]["source_code_hash"]) == "local.edge_source_code_hash"
    assert expr(builder["triggers"]["function_name"]) == "local.edge_function_name"
    assert "depends_on" not in builder
    local_exec = one(builder["provisioner"])["local-exec"]
    assert expr(local_exec["command"]) == "${path.module}/scripts/build-edge-zip.sh"
    assert expr(local_exec["environment"]["TFREG_EDGE_ZIP"]) == "local.edge_zip_path"
    edge = blocks_of(module, "resource", "aws_lambda_function")["edge"]
    assert "${null_resource.edge_zip}" in edge["depends_on"]


# The script, run as the module runs it, on a bundle with a binary edge.wasm.

BUILD_EDGE_ZIP = MODULE / "scripts" / "build-edge-zip.sh"
WASM_BYTES = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 4  # not UTF-8: archive_file's source blocks could not hold it
INDEX_TEXT = "export const handler = async (event) => event;\n"
CONFIG_TEXT = '{"origin_secret":"s3cr3t-origin-value","signing_key_hex":"' + "ab" * 32 + '"}'


def build_edge_zip(tmp_path, index_sha256=None, wasm_sha256=None, path=None):
    bundle = tmp_path / "edge-bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "index.mjs").write_text(INDEX_TEXT)
    (bundle / "edge.wasm").write_bytes(WASM_BYTES)
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    out = tmp_path / "root" / ".terraform" / "tfreg-test-edge.zip"
    env = {
        "PATH": path or os.environ["PATH"],
        "TMPDIR": str(scratch),
        "TFREG_EDGE_BUNDLE_DIR": str(bundle),
        "TFREG_EDGE_INDEX_SHA256": index_sha256 or hashlib.sha256(INDEX_TEXT.encode()).hexdigest(),
        "TFREG_EDGE_WASM_SHA256": wasm_sha256 or hashlib.sha256(WASM_BYTES).hexdigest(),
        "TFREG_EDGE_CONFIG_JSON": CONFIG_TEXT,
        "TFREG_EDGE_ZIP": str(out),
    }
    # The process umask is the usual 022: the script must not rely on it.
    result = subprocess.run(
        ["/bin/sh", "-c", 'umask 022; exec /bin/sh "$0"', str(BUILD_EDGE_ZIP)],
        env=env,
        capture_output=True,
        text=True,
    )
    return result, out, scratch


def test_edge_zip_holds_the_bundle_and_config_owner_only(tmp_path):
    result, out, scratch = build_edge_zip(tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["index.mjs", "edge.wasm", "config.json"]
        assert z.read("edge.wasm") == WASM_BYTES
        assert z.read("index.mjs").decode() == INDEX_TEXT
        assert z.read("config.json").decode() == CONFIG_TEXT
        for entry in z.infolist():
            # Lambda runs the code as another user: readable inside, owner-only outside.
            assert stat.S_IMODE(entry.external_attr >> 16) == 0o644, entry.filename
    # The staged copies (config.json with the secrets) are gone, and nothing is left beside
    # the zip.
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert "s3cr3t" not in result.stdout + result.stderr


def test_edge_zip_is_the_same_bytes_for_the_same_inputs(tmp_path):
    first, out, _ = build_edge_zip(tmp_path)
    assert first.returncode == 0, first.stderr
    once = out.read_bytes()
    second, out, _ = build_edge_zip(tmp_path)
    assert second.returncode == 0, second.stderr
    assert out.read_bytes() == once


def test_edge_zip_without_python_uses_zip_and_sha256sum(tmp_path):
    tools = ["sh", "cp", "mktemp", "rm", "mkdir", "dirname", "chmod", "mv", "wc", "tr", "cut", "sha256sum", "zip"]
    found = {tool: shutil.which(tool) for tool in tools}
    if not all(found.values()):
        pytest.skip(f"not installed here: {[t for t, p in found.items() if not p]}")
    bin_dir = tmp_path / "bin"  # the tools, and no python3
    bin_dir.mkdir()
    for tool, where in found.items():
        (bin_dir / tool).symlink_to(where)
    result, out, scratch = build_edge_zip(tmp_path, path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["config.json", "edge.wasm", "index.mjs"]
        assert z.read("edge.wasm") == WASM_BYTES
        assert z.read("config.json").decode() == CONFIG_TEXT
        for entry in z.infolist():
            assert stat.S_IMODE(entry.external_attr >> 16) == 0o644, entry.filename
    assert list(scratch.iterdir()) == []


def test_edge_zip_is_refused_when_the_bundle_changed_since_the_plan(tmp_path):
    result, out, scratch = build_edge_zip(tmp_path, wasm_sha256="0" * 64)
    assert result.returncode != 0
    assert "edge.wasm changed since the plan" in result.stderr
    assert not out.exists()
    assert list(scratch.iterdir()) == []


# 3. Destroy and replacement.

def test_edge_function_is_forgotten_on_destroy_and_replaced_before_destroy(module):
    edge = blocks_of(module, "resource", "aws_lambda_function")["edge"]
    assert edge["skip_destroy"] is True
    assert one(edge["lifecycle"])["create_before_destroy"] is True
    # skip_destroy is in every provider version the module accepts (4.x and later).
    aws = one(module["terraform"])["required_providers"][0]["aws"]
    lowest = re.search(r">=\s*(\d+)\.(\d+)", aws["version"]).groups()
    assert tuple(int(n) for n in lowest) >= (6, 28)


def test_readme_says_how_to_delete_the_left_edge_function_later():
    readme = (MODULE / "README.md").read_text()
    assert "skip_destroy" in readme
    assert "https://github.com/hashicorp/terraform-provider-aws/issues/1721" in readme
    commands = re.findall(r"aws lambda [a-z-]+[^\n]*", readme)
    assert any("list-versions-by-function" in c and "--region us-east-1" in c for c in commands)
    assert any("delete-function" in c and "--qualifier" in c for c in commands)
    assert any("delete-function" in c and "--qualifier" not in c and "--region us-east-1" in c for c in commands)


# 5. Edge memory: the token cache's capacity is bounded.

def test_token_cache_capacity_is_bounded(module):
    assert variables_of(module)["token_cache_capacity"]["default"] <= 50000
    for good in (1, 10000, 50000):
        assert accepts(module, "token_cache_capacity", good), good
    for bad in (0, 50001, 1000000, 10.5):
        assert not accepts(module, "token_cache_capacity", bad), bad


# 6. Lambda's 4 KB of environment variables.

def test_origin_environment_is_measured_against_lambdas_4_kb_when_planning(module):
    local = merged_locals(module)
    env = origin_environment(module)
    measured = expr(local["origin_environment_bytes"])
    match = re.fullmatch(r"length\(jsonencode\(merge\(local\.origin_settings, \{(.*)\}\)\)\)", measured, re.S)
    assert match, measured
    # The secrets are replaced by blanks of their fixed lengths, known before they exist.
    placeholders = dict(re.findall(r'"(\w+)": "\$\{format\(\\?"%\$\{([^}]+)\}s\\?", \\?"\\?"\)\}"', match.group(1)))
    assert placeholders == {
        "TFREG_SIGNING_KEY": "random_id.signing_key.byte_length * 2",
        "TFREG_ORIGIN_SECRET": "random_password.origin_secret.length",
    }
    assert set(placeholders) == set(local["origin_secrets"])
    assert expr(local["origin_secrets"]["TFREG_SIGNING_KEY"]) == "local.signing_key"
    assert expr(merged_locals(module)["signing_key"]) == "random_id.signing_key.hex"
    assert expr(local["origin_secrets"]["TFREG_ORIGIN_SECRET"]) == "local.origin_secret"
    # The bucket by its configured name: known before the bucket exists.
    assert expr(env["TFREG_S3_BUCKET"]) == "aws_s3_bucket.archives.bucket"
    condition = plan_check(local["origin_environment_check"])
    assert condition == "local.origin_environment_bytes <= 4096"
    assert evaluate_hcl(condition, local={"origin_environment_bytes": 4096})
    assert not evaluate_hcl(condition, local={"origin_environment_bytes": 4097})
    outputs = {name: body for entry in module["output"] for name, body in entry.items()}
    assert expr(outputs["origin_environment_check"]["value"]) == "local.origin_environment_check"


def test_long_proxy_lists_can_exceed_4_kb_so_the_check_matters():
    # The environment as the plan measures it, with the defaults and with a list an operator
    # may well write: 150 module prefixes allowed are too many.
    def size(allow):
        env = {
            "TFREG_S3_BUCKET": "tfreg-123456789012-eu-west-1",
            "TFREG_S3_PREFIX": "archives/",
            "TFREG_DYNAMODB_TABLE": "tfreg-tokens",
            "TFREG_ARCHIVE_URL_TTL": "300",
            "TFREG_PROXY_ENABLED": "true",
            "TFREG_PROXY_UPSTREAM": "https://registry.terraform.io",
            "TFREG_PROXY_GITHUB_ARCHIVE_URL": "https://codeload.github.com",
            "TFREG_PROXY_ALLOW_LIST": ",".join(allow),
            "TFREG_PROXY_DENY_LIST": "",
            "TFREG_PROXY_LOCAL_ONLY": "",
            "TFREG_PROXY_TIMEOUT_SECS": "20",
            "TFREG_PROXY_MAX_ARCHIVE_BYTES": "104857600",
            "TFREG_SIGNING_KEY": " " * 64,
            "TFREG_ORIGIN_SECRET": " " * 48,
        }
        return len(json.dumps(env, separators=(",", ":")))

    assert size([]) < 1024
    assert size([f"namespace-{i:03}/module-name" for i in range(150)]) > 4096


# 7. Secrets on disk: the zip is deleted once the function has it.

def test_edge_zip_is_deleted_after_the_function_is_updated(module):
    removal = blocks_of(module, "resource", "null_resource")["edge_zip_removed"]
    assert expr(removal["triggers"]) == "null_resource.edge_zip.triggers"
    assert removal["depends_on"] == ["${aws_lambda_function.edge}"]
    local_exec = one(removal["provisioner"])["local-exec"]
    assert local_exec["command"] == 'rm -f -- "$TFREG_EDGE_ZIP"'
    assert expr(local_exec["environment"]["TFREG_EDGE_ZIP"]) == "local.edge_zip_path"


def test_readme_says_what_lands_on_disk_truthfully():
    readme = (MODULE / "README.md").read_text()
    section = readme.split("## What lands in Terraform state and on disk", 1)[1].split("\n## ", 1)[0]
    assert "0600" in section
    assert "tfreg-<name_prefix>-edge.zip" in section
    # The directory the local provider staged is gone; the README must not describe it.
    assert "tfreg-<name_prefix>-edge-bundle" not in section
    assert "local` provider" not in section


# 8. Abuse and cost: an optional WAF rate limit, and errors not cached.

def test_waf_is_optional_and_rate_limits_each_client_ip(module, distribution):
    variables = variables_of(module)
    assert variables["waf_enabled"]["default"] is False
    acl = blocks_of(module, "resource", "aws_wafv2_web_acl")["registry"]
    assert expr(acl["count"]) == "var.waf_enabled ? 1 : 0"
    assert expr(acl["provider"]) == "aws.us_east_1"
    assert acl["scope"] == "CLOUDFRONT"
    assert one(acl["default_action"]) == {"allow": [{}]}
    rule = one(acl["rule"])
    assert one(rule["action"]) == {"block": [{}]}
    rate = one(one(rule["statement"])["rate_based_statement"])
    assert rate["aggregate_key_type"] == "IP"
    assert expr(rate["limit"]) == "var.waf_rate_limit"
    assert expr(rate["evaluation_window_sec"]) == "var.waf_rate_limit_window_seconds"
    # Attached to the distribution when enabled; one's own ACL otherwise; never both.
    assert expr(distribution["web_acl_id"]) == "local.web_acl_id"
    local = merged_locals(module)
    assert expr(local["web_acl_id"]) == "var.waf_enabled ? aws_wafv2_web_acl.registry[0].arn : var.web_acl_id"
    both = plan_check(local["web_acl_check"])
    assert evaluate_hcl(both, {"waf_enabled": True, "web_acl_id": None})
    assert evaluate_hcl(both, {"waf_enabled": False, "web_acl_id": "arn:aws:wafv2:us-east-1:1:global/webacl/x/y"})
    assert not evaluate_hcl(both, {"waf_enabled": True, "web_acl_id": "arn:aws:wafv2:us-east-1:1:global/webacl/x/y"})
    outputs = {name: body for entry in module["output"] for name, body in entry.items()}
    assert expr(outputs["web_acl_check"]["value"]) == "local.web_acl_check"


def test_waf_rate_limit_settings_are_validated(module):
    for good in (10, 2000, 2000000000):
        assert accepts(module, "waf_rate_limit", good), good
    for bad in (9, 0, 2000000001, 100.5):
        assert not accepts(module, "waf_rate_limit", bad), bad
    for good in (60, 120, 300, 600):
        assert accepts(module, "waf_rate_limit_window_seconds", good), good
    for bad in (30, 301, 3600):
        assert not accepts(module, "waf_rate_limit_window_seconds", bad), bad


def test_readme_prices_the_waf():
    readme = (MODULE / "README.md").read_text()
    assert "https://aws.amazon.com/waf/pricing/" in readme
    rows = [line for line in readme.splitlines() if line.startswith("|") and "WAF" in line]
    assert any("$5" in r and "$1" in r and "$0.60" in r for r in rows), rows


def test_error_answers_are_not_cached_longer_than_the_origin_says(module, distribution):
    error_responses = [d["custom_error_response"] for d in distribution["dynamic"] if "custom_error_response" in d]
    dynamic = one(error_responses)
    assert expr(dynamic["for_each"]) == "local.uncached_error_codes"
    content = one(dynamic["content"])
    assert expr(content["error_code"]) == "custom_error_response.value"
    assert content["error_caching_min_ttl"] == 0
    # The origin's own answer goes through: no error page, no status rewritten.
    assert "response_page_path" not in content and "response_code" not in content
    codes = set(merged_locals(module)["uncached_error_codes"])
    # The codes CloudFront caches and lets a distribution configure (416 it never caches).
    assert codes == {400, 403, 404, 405, 414, 500, 501, 502, 503, 504}


# 9. Smaller.

def test_every_compressing_behaviour_lets_accept_encoding_into_its_cache_policy(module, distribution):
    policies = blocks_of(module, "resource", "aws_cloudfront_cache_policy")
    behaviours = distribution["ordered_cache_behavior"] + distribution["default_cache_behavior"]
    assert any(b["compress"] is True and b.get("path_pattern") == "/v1/*" for b in behaviours)
    for entry in behaviours:
        if entry["compress"] is not True:
            continue
        policy = policies[policy_ref(entry["cache_policy_id"], "aws_cloudfront_cache_policy")]
        key = one(policy["parameters_in_cache_key_and_forwarded_to_origin"])
        assert key["enable_accept_encoding_gzip"] is True, entry.get("path_pattern", "default")
        assert key["enable_accept_encoding_brotli"] is True, entry.get("path_pattern", "default")


def test_master_token_recovery_window_is_a_variable(module):
    assert variables_of(module)["master_token_recovery_window_days"]["default"] is None
    for good in (None, 0, 7, 30):
        assert accepts(module, "master_token_recovery_window_days", good), good
    for bad in (1, 6, 31, 7.5):
        assert not accepts(module, "master_token_recovery_window_days", bad), bad
    secret = blocks_of(module, "resource", "aws_secretsmanager_secret")["master_token"]
    assert expr(secret["recovery_window_in_days"]) == "local.master_token_recovery_window_days"
    window = merged_locals(module)["master_token_recovery_window_days"]
    cases = [
        (None, False, 7),  # production default: a week to restore the only copy of the token
        (None, True, 0),  # throwaway deployments (force_destroy) can be re-created at once
        (0, False, 0),
        (30, True, 30),
    ]
    for days, force_destroy, expected in cases:
        values = {"master_token_recovery_window_days": days, "force_destroy": force_destroy}
        assert evaluate_hcl(window, values) == expected, (days, force_destroy)


def test_origin_lists_only_under_archives_and_staging(module):
    doc = blocks_of(module, "data", "aws_iam_policy_document")["origin"]
    listing = [s for s in doc["statement"] if "s3:ListBucket" in s["actions"]]
    statement = one(listing)
    assert statement["actions"] == ["s3:ListBucket"]
    condition = one(statement["condition"])
    # Not ...IfExists: a listing with no prefix at all (the whole bucket) must not match.
    assert condition["test"] == "StringLike"
    assert condition["variable"] == "s3:prefix"
    assert sorted(condition["values"]) == ["${local.archive_prefix}*", "${local.staging_prefix}*"]
    for action in ("s3:ListBucketVersions", "s3:ListAllMyBuckets", "s3:*", "s3:List*"):
        assert action not in origin_grants(module), action


# The example shows the new settings.

def test_example_shows_the_runtime_and_the_waf(example):
    call = example["module"][0]["registry"]
    assert call["edge_runtime"] == "nodejs22.x"
    assert expr(call["waf_enabled"]) == "var.waf_enabled"
    assert "waf_rate_limit" in call
    variables = {name: body for entry in example["variable"] for name, body in entry.items()}
    assert variables["waf_enabled"]["default"] is False
