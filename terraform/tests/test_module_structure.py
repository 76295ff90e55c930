"""Structural tests of the deployment module: what must hold in terraform/ that `terraform
validate` and `plan` would not tell (and cannot run here: the AWS provider is not available
offline). The HCL is parsed with python-hcl2; expressions come back as "${...}" strings.

Run: .venv/bin/python -m pytest terraform/tests
"""

import json
import math
import re
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


def test_origin_environment_covers_what_the_lambda_reads(module):
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    env = set(one(origin["environment"])["variables"])
    documented = set(re.findall(r"`(TFREG_[A-Z0-9_]+)`", (REPO / "origin" / "src" / "lambda" / "config.rs").read_text()))
    assert documented, "no TFREG_* variables documented in origin/src/lambda/config.rs"
    # TFREG_ENDPOINT_URL points the SDK at a local stand-in in tests; never set on AWS.
    assert documented - {"TFREG_ENDPOINT_URL"} <= env


def test_function_url_is_guarded_by_the_origin_secret(module):
    url = blocks_of(module, "resource", "aws_lambda_function_url")["origin"]
    assert url["authorization_type"] == "NONE"
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    env = one(origin["environment"])["variables"]
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
    "TFREG_PROXY_ALLOW_LIST": 'join(",", var.proxy_allow_list)',
    "TFREG_PROXY_DENY_LIST": 'join(",", var.proxy_deny_list)',
    "TFREG_PROXY_LOCAL_ONLY": 'join(",", var.proxy_local_only)',
    "TFREG_PROXY_TIMEOUT_SECS": "tostring(var.proxy_timeout_seconds)",
    "TFREG_PROXY_MAX_ARCHIVE_BYTES": "tostring(var.proxy_max_archive_bytes)",
}


def test_origin_gets_every_proxy_setting(module):
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    env = {name: expr(value) for name, value in one(origin["environment"])["variables"].items()}
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
    for entry in (
        "",
        "Acme",  # namespaces and names are lowercase
        "acme/*/aws",  # the old pattern syntax: a shorter prefix is the wildcard now
        "*",
        "acme/",
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
