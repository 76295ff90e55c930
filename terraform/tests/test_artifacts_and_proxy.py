"""Structural tests of the deployment module: The artifacts the module deploys by default; proxy and pinning.

Run: .venv/bin/python -m pytest terraform/tests
"""

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)


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


def test_origin_may_delete_unpinned_archives_and_finalized_staging(module):
    deletable = origin_grants(module)["s3:DeleteObject"]
    assert sorted(deletable) == sorted([
        "${aws_s3_bucket.archives.arn}/${local.archive_prefix}*",
        "${aws_s3_bucket.archives.arn}/${local.staging_prefix}*",
        "${aws_s3_bucket.archives.arn}/${local.provider_keys_prefix}*",
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
