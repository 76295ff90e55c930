"""Structural tests of the deployment module: What a first apply, later plans, a destroy and abuse on a real account need (issue 14).

Run: .venv/bin/python -m pytest terraform/tests
"""

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)


def test_hcl_to_python_reads_conditionals_as_terraform_does():
    # Right-associative, lowest precedence: the else branch runs to the end.
    assert evaluate_hcl("var.a ? 1 : var.b ? 2 : 3", {"a": False, "b": True}) == 2
    assert evaluate_hcl("var.a == null ? true : (var.a >= 7) && var.a <= 9", {"a": 10}) is False
    assert evaluate_hcl("var.a != null ? var.a : (var.b ? 0 : 7)", {"a": None, "b": False}) == 7


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
    match = re.fullmatch(r"length\(jsonencode\(merge\(local\.origin_settings, local\.origin_auth_settings, local\.origin_mirror_settings, \{(.*)\}\)\)\)", measured, re.S)
    assert match, measured
    # The secrets are replaced by blanks of their fixed lengths, known before they exist.
    placeholders = dict(re.findall(r'"(\w+)": "\$\{format\(\\?"%\$\{([^}]+)\}s\\?", \\?"\\?"\)\}"', match.group(1)))
    assert placeholders == {
        "TFREG_URL_SIGNING_SECRET": "local.url_signing_secret_arn_length",
        "TFREG_ORIGIN_SECRET": "random_password.origin_secret.length",
    }
    assert set(placeholders) == set(local["origin_secrets"])
    assert expr(local["origin_secrets"]["TFREG_URL_SIGNING_SECRET"]) == "aws_secretsmanager_secret.url_signing.arn"
    assert expr(local["url_signing_secret_name"]) == "${var.name_prefix}/url-signing-key"
    # arn:aws-us-gov:secretsmanager:<region, 20 at most>:<12 digits>:secret:<name>-XXXXXX
    longest = len("arn:aws-us-gov:secretsmanager:") + 20 + 1 + 12 + len(":secret:") + len("-XXXXXX")
    assert expr(local["url_signing_secret_arn_length"]) == "80 + length(local.url_signing_secret_name)"
    assert longest <= 80
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
            "TFREG_MAX_STAGED_UPLOAD_BYTES": "104857600",
            "TFREG_STORAGE_TIMEOUT": "5",
            "TFREG_PROXY_ENABLED": "true",
            "TFREG_PROXY_UPSTREAM": "https://registry.terraform.io",
            "TFREG_PROXY_GITHUB_ARCHIVE_URL": "https://codeload.github.com",
            "TFREG_PROXY_ALLOW_LIST": ",".join(allow),
            "TFREG_PROXY_DENY_LIST": "",
            "TFREG_PROXY_LOCAL_ONLY": "",
            "TFREG_PROXY_TIMEOUT_SECS": "20",
            "TFREG_PROXY_MAX_ARCHIVE_BYTES": "104857600",
            "TFREG_URL_SIGNING_SECRET": " " * (80 + len("tfreg/url-signing-key")),
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
    assert sorted(condition["values"]) == sorted([
        "${local.archive_prefix}*",
        "${local.staging_prefix}*",
        "${local.provider_records_prefix}*",
        "${local.provider_keys_prefix}*",
        "${local.provider_mirror_prefix}*",
    ])
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
