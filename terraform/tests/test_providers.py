"""Structural tests of the deployment module for private providers (providers.v1, issue 20):
discovery names the service, CloudFront sends the provider routes through the token check to
the origin and serves the release files as signed archives, and the origin role may touch the
provider prefixes the S3 provider store uses, and nothing CloudFront reads beyond archives/.

And for the provider network mirror (/v1/mirror/, issue 20): its variables and their
validations, the TFREG_PROVIDER_MIRROR_* settings (none with the mirror off), the two
plan-time checks, /tmp, the grants on archives/_mirror/ and the bucket's lifecycle. Settings,
checks and validations also run in the real Terraform CLI (1.0.3) on a root of variables.tf
and the mirror's locals copied from main.tf and lambda_origin.tf as written.

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



# The provider network mirror.

MIRROR_LOCALS = [
    ("main.tf", "provider_mirror_enabled"),
    ("main.tf", "provider_mirror_timeout_check"),
    ("main.tf", "provider_mirror_storage_check"),
    ("lambda_origin.tf", "origin_mirror_settings"),
]
MIRROR_ENV_NAMES = {
    "UPSTREAMS": "TFREG_PROVIDER_MIRROR_UPSTREAMS",
    "DOWNLOAD_HOSTS": "TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS",
    "ALLOW_LIST": "TFREG_PROVIDER_MIRROR_ALLOW_LIST",
    "DENY_LIST": "TFREG_PROVIDER_MIRROR_DENY_LIST",
    "TIMEOUT_SECS": "TFREG_PROVIDER_MIRROR_TIMEOUT_SECS",
    "MAX_PACKAGE_BYTES": "TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES",
}
TIMEOUT_ERROR = "ERROR: with provider_mirror_upstreams, origin_timeout_seconds must be at least provider_mirror_timeout_seconds + 5"
STORAGE_ERROR = "ERROR: with provider_mirror_upstreams, provider_mirror_max_package_bytes must be at most (origin_ephemeral_storage_mb - 64) * 1048576"
MIB = 1048576


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory):
    """A root of variables.tf and the mirror's locals (no resources, so no provider to
    download), applied by the real Terraform CLI: returns (exit code, message, outputs)."""
    if not TERRAFORM.exists():
        pytest.skip("no .venv/bin/terraform (bash tests/setup.sh installs it)")
    root = tmp_path_factory.mktemp("mirror-root")
    shutil.copy(MODULE / "variables.tf", root)
    declared = "\n".join(f"  {name} = {local_source(MODULE / path, name)}" for path, name in MIRROR_LOCALS)
    outputs = "".join(f'output "{name}" {{\n  value = local.{name}\n}}\n' for _, name in MIRROR_LOCALS)
    (root / "mirror.tf").write_text(f"locals {{\n{declared}\n}}\n\n{outputs}")
    return variables_root(root)


def mirror_refused(mirror_root, expected, **variables):
    code, message, _ = mirror_root(**variables)
    assert code != 0, f"accepted: {variables}"
    assert expected in message, message


# Settings, as the origin reads them (origin/src/mirror/mod.rs, MirrorConfig::from_env).

def test_mirror_env_names_are_the_ones_the_origin_reads():
    source = (REPO / "origin/src/mirror/mod.rs").read_text()
    constants = dict(re.findall(r'pub const (\w+): &str = "(TFREG_PROVIDER_MIRROR_\w+)";', source))
    assert constants == MIRROR_ENV_NAMES


def test_origin_gets_the_mirror_settings_only_with_an_upstream(module):
    local = merged_locals(module)
    assert expr(local["provider_mirror_enabled"]) == "length(var.provider_mirror_upstreams) > 0"
    assert origin_mirror_settings(module) == {
        "TFREG_PROVIDER_MIRROR_UPSTREAMS": 'join(",", var.provider_mirror_upstreams)',
        "TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS": 'join(",", var.provider_mirror_download_hosts)',
        "TFREG_PROVIDER_MIRROR_ALLOW_LIST": 'join(",", var.provider_mirror_allow_list)',
        "TFREG_PROVIDER_MIRROR_DENY_LIST": 'join(",", var.provider_mirror_deny_list)',
        "TFREG_PROVIDER_MIRROR_TIMEOUT_SECS": "tostring(var.provider_mirror_timeout_seconds)",
        "TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES": "tostring(var.provider_mirror_max_package_bytes)",
    }
    assert set(MIRROR_ENV_NAMES.values()) <= set(origin_environment(module))
    # Lambda's 4 KB covers them: measured with the rest, and the failure names the lists.
    assert "local.origin_mirror_settings" in expr(local["origin_environment_bytes"])
    for name in ("provider_mirror_upstreams", "provider_mirror_download_hosts", "provider_mirror_allow_list", "provider_mirror_deny_list"):
        assert name in local["origin_environment_check"], name


def test_mirror_off_sets_no_variable_and_passes_both_checks(mirror_root):
    # Even with settings the checks would refuse: they only matter with an upstream.
    code, message, outputs = mirror_root(origin_timeout_seconds=3, provider_mirror_timeout_seconds=55, provider_mirror_max_package_bytes=10 * 1024 * MIB)
    assert code == 0, message
    assert outputs == {
        "provider_mirror_enabled": False,
        "origin_mirror_settings": {},
        "provider_mirror_timeout_check": "ok",
        "provider_mirror_storage_check": "ok",
    }


def test_mirror_settings_are_rendered_from_the_variables(mirror_root):
    code, message, outputs = mirror_root(
        provider_mirror_upstreams=["registry.terraform.io", "registry.example.com=https://providers.example.com:8443"],
        provider_mirror_download_hosts=["https://releases.hashicorp.com", "https://downloads.example.com"],
        provider_mirror_allow_list=["registry.terraform.io/hashicorp", "registry.example.com"],
        provider_mirror_deny_list=["registry.terraform.io/hashicorp/aws"],
        provider_mirror_timeout_seconds=40,
        provider_mirror_max_package_bytes=900 * MIB,
        origin_timeout_seconds=45,
        origin_ephemeral_storage_mb=1024,
    )
    assert code == 0, message
    assert outputs["origin_mirror_settings"] == {
        "TFREG_PROVIDER_MIRROR_UPSTREAMS": "registry.terraform.io,registry.example.com=https://providers.example.com:8443",
        "TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS": "https://releases.hashicorp.com,https://downloads.example.com",
        "TFREG_PROVIDER_MIRROR_ALLOW_LIST": "registry.terraform.io/hashicorp,registry.example.com",
        "TFREG_PROVIDER_MIRROR_DENY_LIST": "registry.terraform.io/hashicorp/aws",
        "TFREG_PROVIDER_MIRROR_TIMEOUT_SECS": "40",
        "TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES": "943718400",
    }
    assert (outputs["provider_mirror_timeout_check"], outputs["provider_mirror_storage_check"]) == ("ok", "ok")


def test_an_upstream_alone_takes_the_defaults(mirror_root):
    # Empty lists become "", which the origin reads as unset: registry.terraform.io then brings
    # https://releases.hashicorp.com as its download host, and the allow list allows all.
    code, message, outputs = mirror_root(provider_mirror_upstreams=["registry.terraform.io"])
    assert code == 0, message
    assert outputs["origin_mirror_settings"] == {
        "TFREG_PROVIDER_MIRROR_UPSTREAMS": "registry.terraform.io",
        "TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS": "",
        "TFREG_PROVIDER_MIRROR_ALLOW_LIST": "",
        "TFREG_PROVIDER_MIRROR_DENY_LIST": "",
        "TFREG_PROVIDER_MIRROR_TIMEOUT_SECS": "25",
        "TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES": "419430400",
    }


def test_mirror_defaults(module):
    variables = variables_of(module)
    for name in ("provider_mirror_upstreams", "provider_mirror_download_hosts", "provider_mirror_allow_list", "provider_mirror_deny_list"):
        assert variables[name]["default"] == [], name
    assert variables["provider_mirror_timeout_seconds"]["default"] == 25
    assert variables["provider_mirror_max_package_bytes"]["default"] == 400 * MIB
    assert variables["origin_ephemeral_storage_mb"]["default"] == 512
    for name in MIRROR_VARIABLES:
        assert any(env in variables[name]["description"] for env in MIRROR_ENV_NAMES.values()), name


MIRROR_VARIABLES = (
    "provider_mirror_upstreams",
    "provider_mirror_download_hosts",
    "provider_mirror_allow_list",
    "provider_mirror_deny_list",
    "provider_mirror_timeout_seconds",
    "provider_mirror_max_package_bytes",
)


# The two plan-time checks.

def test_origin_timeout_leaves_the_mirror_its_timeout_plus_five_seconds(module, mirror_root):
    local = merged_locals(module)
    condition = plan_check(local["provider_mirror_timeout_check"])
    on, off = {"provider_mirror_enabled": True}, {"provider_mirror_enabled": False}
    for origin, mirror, passes in ((30, 25, True), (29, 25, False), (60, 55, True), (60, 56, False), (60, 60, False)):
        values = {"origin_timeout_seconds": origin, "provider_mirror_timeout_seconds": mirror}
        assert evaluate_hcl(condition, values, on) is passes, values
        assert evaluate_hcl(condition, values, off) is True, values
    assert TIMEOUT_ERROR in local_source(MODULE / "main.tf", "provider_mirror_timeout_check")
    mirror_refused(mirror_root, TIMEOUT_ERROR, provider_mirror_upstreams=["registry.terraform.io"], origin_timeout_seconds=29)
    mirror_refused(
        mirror_root,
        TIMEOUT_ERROR,
        provider_mirror_upstreams=["registry.terraform.io"],
        provider_mirror_timeout_seconds=55,
        origin_timeout_seconds=59,
    )


def test_largest_package_fits_in_tmp_with_64_mb_to_spare(module, mirror_root):
    local = merged_locals(module)
    condition = plan_check(local["provider_mirror_storage_check"])
    on = {"provider_mirror_enabled": True}
    for storage, largest, passes in ((512, 448 * MIB, True), (512, 448 * MIB + 1, False), (10240, 10176 * MIB, True), (1024, 960 * MIB + 1, False)):
        values = {"origin_ephemeral_storage_mb": storage, "provider_mirror_max_package_bytes": largest}
        assert evaluate_hcl(condition, values, on) is passes, values
        assert evaluate_hcl(condition, values, {"provider_mirror_enabled": False}) is True, values
    mirror_refused(mirror_root, STORAGE_ERROR, provider_mirror_upstreams=["registry.terraform.io"], provider_mirror_max_package_bytes=448 * MIB + 1)
    code, message, _ = mirror_root(
        provider_mirror_upstreams=["registry.terraform.io"], provider_mirror_max_package_bytes=448 * MIB + 1, origin_ephemeral_storage_mb=1024
    )
    assert code == 0, message


def test_mirror_checks_are_outputs_and_the_defaults_pass_them(module):
    # A check fails the plan only if something evaluates it: the module outputs both.
    outputs = outputs_of(module)
    for name in ("provider_mirror_timeout_check", "provider_mirror_storage_check"):
        assert expr(outputs[name]["value"]) == f"local.{name}", name
    defaults = {name: body.get("default") for name, body in variables_of(module).items()}
    local = merged_locals(module)
    for name in ("provider_mirror_timeout_check", "provider_mirror_storage_check"):
        assert evaluate_hcl(plan_check(local[name]), defaults, {"provider_mirror_enabled": True}), name
    url = expr(outputs["provider_mirror_url"]["value"])
    assert url == 'local.provider_mirror_enabled ? "https://${local.registry_host}/v1/mirror/" : null'


# Validations, in Terraform's regex engine and in Python's (the same patterns).

def mirror_pattern(module, name):
    condition = expr(variables_of(module)[name]["validation"][0]["condition"])
    return re.compile(re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1).replace("\\\\", "\\"))


GOOD_HOSTNAMES = ("registry.terraform.io", "registry.opentofu.org", "tf-registry.example.co.uk", "localhost", "a" * 63 + ".io")
BAD_HOSTNAMES = (
    "",
    "Registry.terraform.io",  # Terraform lowercases hostnames; the origin refuses capitals
    "registry.terraform.io:443",  # Terraform's mirror client cannot send a port
    "https://registry.terraform.io",
    "registry..terraform.io",
    ".registry.terraform.io",
    "-registry.terraform.io",
    "registry.terraform.io.",
    "registry_terraform.io",
    "registry.terraform.io/hashicorp",
    "a" * 64 + ".io",
    "registry.terraform.io,registry.opentofu.org",  # the list is joined with commas
)


def test_upstreams_are_hostnames_or_hostname_equals_an_https_origin(module):
    pattern = mirror_pattern(module, "provider_mirror_upstreams")
    for hostname in GOOD_HOSTNAMES:
        assert pattern.fullmatch(hostname), hostname
        assert pattern.fullmatch(f"{hostname}=https://providers.example.com:8443"), hostname
        assert pattern.fullmatch(f"{hostname}=https://providers.example.com/"), hostname
    for hostname in BAD_HOSTNAMES:
        assert not pattern.fullmatch(hostname), hostname
    for url in ("http://providers.example.com", "https://providers.example.com/v1", "https://user@providers.example.com", "https://x?y=1", "providers.example.com", ""):
        assert not pattern.fullmatch(f"registry.example.com={url}"), url
    # A port is 1-65535: the origin's URL parser refuses anything else at every cold start.
    for port in ("1", "443", "8443", "65535"):
        assert pattern.fullmatch(f"registry.example.com=https://providers.example.com:{port}"), port
    for port in ("0", "65536", "99999", "08443"):
        assert not pattern.fullmatch(f"registry.example.com=https://providers.example.com:{port}"), port


@pytest.mark.parametrize(
    "upstreams",
    [["Registry.terraform.io"], ["registry.terraform.io:443"], ["registry.example.com=http://127.0.0.1:9000"], ["registry.example.com=https://example.com/path"], ["a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".io"]],
)
def test_terraform_refuses_a_bad_upstream(mirror_root, upstreams):
    mirror_refused(mirror_root, "Each provider_mirror_upstreams entry must be a lowercase provider registry hostname", provider_mirror_upstreams=upstreams)


def test_terraform_refuses_an_upstream_named_twice(mirror_root):
    upstreams = ["registry.terraform.io", "registry.terraform.io=https://mirror.example.com"]
    mirror_refused(mirror_root, "The provider_mirror_upstreams name a hostname twice", provider_mirror_upstreams=upstreams)


def test_download_hosts_are_https_origins(module, mirror_root):
    pattern = mirror_pattern(module, "provider_mirror_download_hosts")
    for url in ("https://releases.hashicorp.com", "https://releases.hashicorp.com/", "https://downloads.example.com:8443"):
        assert pattern.fullmatch(url), url
    for url in ("http://releases.hashicorp.com", "releases.hashicorp.com", "https://releases.hashicorp.com/terraform-provider-aws", "https://x.example.com?y", "https://a.example.com,https://b.example.com", "https://x.example.com:0", "https://x.example.com:70000"):
        assert not pattern.fullmatch(url), url
    mirror_refused(mirror_root, "Each provider_mirror_download_hosts entry must be an https:// URL", provider_mirror_download_hosts=["http://releases.hashicorp.com"])


@pytest.mark.parametrize("name", ["provider_mirror_allow_list", "provider_mirror_deny_list"])
def test_allow_and_deny_lists_take_whole_segment_provider_prefixes(module, mirror_root, name):
    pattern = mirror_pattern(module, name)
    for entry in (
        "registry.terraform.io",
        "registry.terraform.io/hashicorp",
        "registry.terraform.io/hashicorp/aws",
        "registry.terraform.io/hashicorp/",
        "registry.example.com/acme_corp/dns-2",
        "registry.example.com/0x/a" + "b" * 63,
    ):
        assert pattern.fullmatch(entry), entry
    for entry in (
        "",
        "registry.terraform.io/HashiCorp",
        "registry.terraform.io/hashicorp/AWS",
        "registry.terraform.io/*",
        "registry.terraform.io/hashicorp/*",
        "registry.terraform.io:443/hashicorp",
        "registry.terraform.io/hashicorp/aws/5.0.0",
        "registry.terraform.io//aws",
        "registry.terraform.io/-acme",
        "registry.terraform.io/hashicorp/1aws",  # a type starts with a letter
        "registry.terraform.io/hashicorp/aws_x",  # and has no '_'
        "registry.terraform.io/hashicorp,registry.terraform.io/acme",
    ):
        assert not pattern.fullmatch(entry), entry
    mirror_refused(mirror_root, f"Each {name} entry must be a provider prefix", **{name: ["registry.terraform.io/hashicorp/*"]})
    mirror_refused(mirror_root, f"Each {name} entry must be a provider prefix", **{name: ["Registry.terraform.io"]})


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    [("provider_mirror_timeout_seconds", 1, 55), ("origin_ephemeral_storage_mb", 512, 10240), ("provider_mirror_max_package_bytes", 1, None)],
)
def test_mirror_numbers_are_validated_whole_and_bounded(module, mirror_root, name, lowest, highest):
    condition = one(variables_of(module)[name]["validation"])["condition"]
    assert evaluate(condition, {name: lowest})
    bad = [lowest - 1, lowest + 0.5]
    if highest is not None:
        assert evaluate(condition, {name: highest})
        bad.append(highest + 1)
    for value in bad:
        assert not evaluate(condition, {name: value}), value
    mirror_refused(mirror_root, f"The {name} must be a whole number", **{name: lowest - 1})


# The origin Lambda, its role and the bucket.

def test_origin_tmp_is_the_ephemeral_storage_variable(module):
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    assert expr(one(origin["ephemeral_storage"])["size"]) == "var.origin_ephemeral_storage_mb"


def test_mirror_prefix_is_the_origins_under_archives(module):
    assert expr(merged_locals(module)["provider_mirror_prefix"]) == "${local.archive_prefix}_mirror/"
    source = (REPO / "origin/src/mirror/mod.rs").read_text()
    assert 'pub const MIRROR_FILES_PATH: &str = "_mirror/";' in source


def test_origin_reads_lists_and_writes_the_mirror_and_puts_nothing_new_elsewhere(module):
    grants = origin_grants(module)
    bucket = "${aws_s3_bucket.archives.arn}"
    mirror = f"{bucket}/${{local.provider_mirror_prefix}}*"
    assert mirror in grants["s3:GetObject"] and mirror in grants["s3:PutObject"]
    # Writes: the mirror adds its own prefix and nothing wider.
    assert sorted(grants["s3:PutObject"]) == sorted(
        [f"{bucket}/${{local.{prefix}}}*" for prefix in ("archive_prefix", "staging_prefix", "provider_records_prefix", "provider_keys_prefix")] + [mirror]
    )
    # Mirrored packages are kept: no delete names them (archives/ is unpinning's, issue 11).
    assert not [r for r in grants["s3:DeleteObject"] if "mirror" in r]
    doc = blocks_of(module, "data", "aws_iam_policy_document")["origin"]
    listing = one([s for s in doc["statement"] if "s3:ListBucket" in s["actions"]])
    condition = one(listing["condition"])
    assert condition["test"] == "StringLike" and condition["variable"] == "s3:prefix"
    assert "${local.provider_mirror_prefix}*" in condition["values"]


def test_no_lifecycle_rule_expires_mirrored_packages(module):
    local = merged_locals(module)

    def resolve(text):
        return re.sub(r"\$\{local\.(\w+)\}", lambda m: resolve(local[m.group(1)]), text)

    mirror = resolve(local["provider_mirror_prefix"])
    assert mirror == "archives/_mirror/"
    lifecycle = blocks_of(module, "resource", "aws_s3_bucket_lifecycle_configuration")["archives"]
    expiring = []
    for rule in lifecycle["rule"]:
        if "expiration" not in rule:
            continue
        prefix = one(rule["filter"]).get("prefix")
        assert prefix is not None, f"{rule['id']} expires every key, mirrored packages too"
        expiring.append(resolve(prefix))
    # The proxy's cache expires; the mirror beside it under archives/ does not.
    assert "archives/_proxy/" in expiring
    for prefix in expiring:
        assert not mirror.startswith(prefix), prefix


# CloudFront: the mirror's routes and its packages.

@pytest.mark.parametrize(
    "path",
    [
        "/v1/mirror/registry.terraform.io/hashicorp/random/index.json",
        "/v1/mirror/registry.terraform.io/hashicorp/random/3.6.0.json",
        "/v1/mirror/registry.terraform.io/hashicorp/random/3.6.0/linux_amd64.zip",
    ],
)
def test_mirror_routes_go_through_the_edge_to_the_origin(distribution, path):
    chosen = first_behaviour(distribution, path)
    assert chosen["path_pattern"] == "/v1/*", path
    assert viewer_request_lambdas(chosen) == ["aws_lambda_function.edge.qualified_arn"]
    assert expr(chosen["target_origin_id"]) == "local.lambda_origin_id"
    assert "POST" in chosen["allowed_methods"]  # mirroring ahead of time


def test_mirrored_packages_are_signed_archives_with_no_function(distribution):
    path = "/archives/_mirror/registry.terraform.io/hashicorp/random/3.6.0/linux_amd64/terraform-provider-random_3.6.0_linux_amd64.zip"
    chosen = first_behaviour(distribution, path)
    assert chosen["path_pattern"] == "/archives/*"
    assert "lambda_function_association" not in chosen
    assert [expr(g) for g in chosen["trusted_key_groups"]] == ["aws_cloudfront_key_group.archives.id"]


# What operators and users read.

def test_example_sets_every_mirror_variable(example):
    call = example["module"][0]["registry"]
    missing = set(MIRROR_VARIABLES + ("origin_ephemeral_storage_mb",)) - set(call)
    assert not missing, missing


def test_readme_tells_how_to_mirror_public_providers():
    readme = (MODULE / "README.md").read_text()
    section = readme.split("## Mirroring public providers", 1)[1].split("\n## ", 1)[0]
    for needed in (
        "network_mirror",
        'url     = "https://registry.example.com/v1/mirror/"',
        "direct {",
        "exclude = [",
        'credentials "registry.example.com"',
        "tfreg provider mirror registry.terraform.io/hashicorp/aws 5.0.0 --platforms linux_amd64",
        "/v1/mirror/{host}/{ns}/{type}/{version}",
        "provider_mirror_timeout_seconds",
        "origin_ephemeral_storage_mb",
        "archives/_mirror/",
    ):
        assert needed in section, needed
    for name in MIRROR_ENV_NAMES.values():
        assert name in section or name.replace("TFREG_PROVIDER_MIRROR_", "…_") in section, name
