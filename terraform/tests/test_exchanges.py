"""Structural tests of the deployment module: the token exchanges (issue 17). The trust-rule
variables and their validations, TFREG_AUTH_CONFIG, the discovery document's "tfreg.auth.v1"
member, the grants the origin does not get, and the WAF rule for POST /v1/auth/*.

Validations and rendering are run by the real Terraform CLI (1.0.3, the oldest the module
supports) on a root of variables.tf and auth.tf, so every condition is checked as Terraform
evaluates it, not read as text.

Run: .venv/bin/python -m pytest terraform/tests
"""

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)

GITHUB = "https://token.actions.githubusercontent.com"
AWS_RULE = {"arn": "arn:aws:iam::123456789012:role/ci-*", "tier": "uploader", "scopes": ["acme/network"], "ttl_secs": 900}
OIDC_RULE = {"claims": {"repository": "acme/infra", "ref": "refs/heads/main"}, "tier": "uploader", "scopes": ["acme"], "ttl_secs": 900}
GITHUB_ISSUER = {"issuer": GITHUB, "audience": "registry.example.com", "rules": [OIDC_RULE]}


@pytest.fixture(scope="module")
def auth_root(tmp_path_factory):
    """A root module of variables.tf and auth.tf (no resources, so no provider to download),
    applied by the real Terraform CLI: returns (exit code, message, outputs)."""
    if not TERRAFORM.exists():
        pytest.skip("no .venv/bin/terraform (bash tests/setup.sh installs it)")
    root = tmp_path_factory.mktemp("auth-root")
    for name in ("variables.tf", "auth.tf", "discovery.json"):
        shutil.copy(MODULE / name, root)
    (root / "outputs.tf").write_text(
        "output \"origin_auth_settings\" {\n  value = local.origin_auth_settings\n}\n"
        "output \"discovery_document\" {\n  value = local.discovery_document\n}\n"
        "output \"aws_exchange_server_id_check\" {\n  value = local.aws_exchange_server_id_check\n}\n"
    )
    return variables_root(root)


def refused(auth_root, expected, **variables):
    code, message, _ = auth_root(**variables)
    assert code != 0, f"accepted: {variables}"
    assert "Invalid value for variable" in message or "ERROR:" in message, message
    assert expected in message, message


# What a deployment without trust rules looks like: exactly as before.

def test_no_trust_rules_means_no_auth_config_and_the_plain_discovery_document(auth_root):
    code, message, outputs = auth_root()
    assert code == 0, message
    assert outputs["origin_auth_settings"] == {}
    assert outputs["discovery_document"].encode() == DISCOVERY_BYTES
    assert outputs["aws_exchange_server_id_check"] == "ok"


def test_trust_rule_variables_default_to_none(module):
    variables = variables_of(module)
    assert variables["aws_trust_rules"]["default"] == []
    assert variables["oidc_issuers"]["default"] == []
    assert variables["aws_exchange_server_id"]["default"] is None
    assert variables["aws_sts_endpoint"]["default"] == "https://sts.amazonaws.com/"


# TFREG_AUTH_CONFIG, as the origin reads it (origin/src/auth: AuthConfig, deny_unknown_fields).

def test_auth_config_is_rendered_from_the_variables(auth_root):
    code, message, outputs = auth_root(
        domain_name="registry.example.com",
        aws_trust_rules=[AWS_RULE, {"arn": "arn:aws:iam::123456789012:user/*", "tier": "downloader", "scopes": [], "ttl_secs": 3600}],
        oidc_issuers=[GITHUB_ISSUER],
    )
    assert code == 0, message
    assert set(outputs["origin_auth_settings"]) == {"TFREG_AUTH_CONFIG"}
    config = json.loads(outputs["origin_auth_settings"]["TFREG_AUTH_CONFIG"])
    assert config == {
        "aws": {
            "sts_endpoint": "https://sts.amazonaws.com/",
            "server_id": "registry.example.com",
            "rules": [AWS_RULE, {"arn": "arn:aws:iam::123456789012:user/*", "tier": "downloader", "scopes": [], "ttl_secs": 3600}],
        },
        "oidc": {"issuers": [GITHUB_ISSUER]},
    }
    # Whole numbers, as the origin's u64 fields need them.
    assert '"ttl_secs":900' in outputs["origin_auth_settings"]["TFREG_AUTH_CONFIG"]


def test_each_exchange_is_rendered_alone(auth_root):
    code, message, outputs = auth_root(oidc_issuers=[GITHUB_ISSUER])
    assert code == 0, message
    assert set(json.loads(outputs["origin_auth_settings"]["TFREG_AUTH_CONFIG"])) == {"oidc"}
    code, message, outputs = auth_root(
        aws_trust_rules=[AWS_RULE],
        aws_exchange_server_id="d111111abcdef8.cloudfront.net",
        aws_sts_endpoint="https://sts.eu-west-1.amazonaws.com/",
    )
    assert code == 0, message
    config = json.loads(outputs["origin_auth_settings"]["TFREG_AUTH_CONFIG"])
    assert set(config) == {"aws"}
    assert config["aws"]["server_id"] == "d111111abcdef8.cloudfront.net"
    assert config["aws"]["sts_endpoint"] == "https://sts.eu-west-1.amazonaws.com/"


def test_aws_exchange_without_a_host_to_sign_for_fails_the_plan(auth_root):
    # The distribution's own name cannot be the default (the origin's settings would depend on
    # the distribution built from the origin's URL): the plan says what to set.
    refused(auth_root, "set domain_name, or aws_exchange_server_id", aws_trust_rules=[AWS_RULE])


def test_origin_gets_auth_config_only_through_the_conditional_local(module):
    auth = origin_auth_settings(module)
    assert auth == {"TFREG_AUTH_CONFIG": "jsonencode(local.auth_config)"}
    assert "TFREG_AUTH_CONFIG" in origin_environment(module)
    local = merged_locals(module)
    assert expr(local["exchanges_enabled"]) == "local.aws_exchange_enabled || local.oidc_exchange_enabled"
    # Lambda's 4 KB covers it: measured with the rest of the environment.
    assert "local.origin_auth_settings" in expr(local["origin_environment_bytes"])
    for name in ("aws_trust_rules", "oidc_issuers"):
        assert name in local["origin_environment_check"], name


def test_a_realistic_rule_set_fits_lambdas_4_kb():
    # As the plan measures it (JSON inside JSON): the proxy defaults, both secrets by their
    # lengths, three AWS rules and a GitHub and a GitLab issuer with two rules each.
    config = {
        "aws": {
            "sts_endpoint": "https://sts.amazonaws.com/",
            "server_id": "registry.example.com",
            "rules": [dict(AWS_RULE, arn=f"arn:aws:iam::12345678901{i}:role/ci-*") for i in range(3)],
        },
        "oidc": {
            "issuers": [
                {"issuer": GITHUB, "audience": "registry.example.com", "rules": [OIDC_RULE, dict(OIDC_RULE, claims={"repository": "acme/*"}, tier="downloader")]},
                {"issuer": "https://gitlab.com", "audience": "registry.example.com", "rules": [dict(OIDC_RULE, claims={"project_path": "acme/infra", "ref_protected": "true"})] * 2},
            ]
        },
    }
    env = {
        "TFREG_S3_BUCKET": "tfreg-123456789012-eu-west-1",
        "TFREG_S3_PREFIX": "archives/",
        "TFREG_DYNAMODB_TABLE": "tfreg-tokens",
        "TFREG_ARCHIVE_URL_TTL": "300",
        "TFREG_MAX_STAGED_UPLOAD_BYTES": "104857600",
        "TFREG_STORAGE_TIMEOUT": "5",
        "TFREG_PROXY_ENABLED": "false",
        "TFREG_PROXY_UPSTREAM": "https://registry.terraform.io",
        "TFREG_PROXY_GITHUB_ARCHIVE_URL": "https://codeload.github.com",
        "TFREG_PROXY_ALLOW_LIST": "",
        "TFREG_PROXY_DENY_LIST": "",
        "TFREG_PROXY_LOCAL_ONLY": "",
        "TFREG_PROXY_TIMEOUT_SECS": "20",
        "TFREG_PROXY_MAX_ARCHIVE_BYTES": "104857600",
        "TFREG_PROXY_MERGE_LIST": "",
        "TFREG_PROXY_CA_BUNDLE": "",
        "TFREG_AUTH_CONFIG": json.dumps(config, separators=(",", ":")),
        "TFREG_URL_SIGNING_SECRET": " " * (80 + len("tfreg/url-signing-key")),
        "TFREG_ORIGIN_SECRET": " " * 48,
    }
    size = len(json.dumps(env, separators=(",", ":")))
    assert size <= 4096, size


# The discovery document: its services exactly as before, plus what the credentials helper needs.

def test_discovery_document_gains_the_exchange_member(auth_root):
    code, message, outputs = auth_root(domain_name="registry.example.com", aws_trust_rules=[AWS_RULE], oidc_issuers=[GITHUB_ISSUER])
    assert code == 0, message
    document = json.loads(outputs["discovery_document"])
    assert document["modules.v1"] == json.loads(DISCOVERY_BYTES)["modules.v1"]
    assert document["providers.v1"] == json.loads(DISCOVERY_BYTES)["providers.v1"]
    assert set(document) == {"modules.v1", "providers.v1", "tfreg.auth.v1"}
    assert document["tfreg.auth.v1"] == {
        "aws": {"sts_endpoint": "https://sts.amazonaws.com/", "server_id": "registry.example.com"},
        "oidc": {"audience": "registry.example.com", "issuers": [{"issuer": GITHUB, "audience": "registry.example.com"}]},
    }
    # Never the rules: who is trusted is not published.
    assert "rules" not in outputs["discovery_document"] and "acme" not in outputs["discovery_document"]


def test_discovery_names_one_audience_only_when_issuers_share_it(auth_root):
    gitlab = {"issuer": "https://gitlab.example.com", "audience": "tfreg", "rules": [dict(OIDC_RULE, claims={"project_path": "acme/*"})]}
    code, message, outputs = auth_root(oidc_issuers=[GITHUB_ISSUER, gitlab])
    assert code == 0, message
    oidc = json.loads(outputs["discovery_document"])["tfreg.auth.v1"]["oidc"]
    assert "audience" not in oidc
    assert oidc["issuers"] == [{"issuer": GITHUB, "audience": "registry.example.com"}, {"issuer": "https://gitlab.example.com", "audience": "tfreg"}]
    assert "aws" not in json.loads(outputs["discovery_document"])["tfreg.auth.v1"]


# Validations: what users get wrong is refused at plan, before the origin would refuse it at
# every cold start.

@pytest.mark.parametrize(
    "rule, expected",
    [
        (dict(AWS_RULE, tier="admin"), "tier must be downloader, uploader or master"),
        (dict(AWS_RULE, tier="Uploader"), "tier must be downloader, uploader or master"),
        (dict(AWS_RULE, ttl_secs=59), "ttl_secs must be a whole number of seconds from 60 to 3600"),
        (dict(AWS_RULE, ttl_secs=3601), "ttl_secs must be a whole number of seconds from 60 to 3600"),
        (dict(AWS_RULE, ttl_secs=900.5), "ttl_secs must be a whole number of seconds from 60 to 3600"),
        (dict(AWS_RULE, scopes=["Acme"]), "scope must be a module prefix"),
        (dict(AWS_RULE, scopes=["acme/*"]), "scope must be a module prefix"),
        (dict(AWS_RULE, scopes=["acme/"]), "scope must be a module prefix"),
        (dict(AWS_RULE, scopes=["acme/network/aws/extra"]), "scope must be a module prefix"),
        (dict(AWS_RULE, scopes=["acme/network/aws-x"]), "scope must be a module prefix"),
        (dict(AWS_RULE, scopes=[f"ns{i}" for i in range(17)]), "at most 16 scopes"),
        (dict(AWS_RULE, arn="role/ci-*"), 'must be an ARN pattern starting with "arn:"'),
        (dict(AWS_RULE, arn="*"), 'must be an ARN pattern starting with "arn:"'),
        (dict(AWS_RULE, arn="arn:aws:iam::*:role/ci"), "A * in the account field"),
        (dict(AWS_RULE, arn="arn:*"), "A * in the account field"),
        (dict(AWS_RULE, arn="arn:aws:iam::123456789012:role/team/ci"), "names a role with a path"),
    ],
)
def test_bad_aws_rules_are_refused(auth_root, rule, expected):
    refused(auth_root, expected, domain_name="registry.example.com", aws_trust_rules=[rule])


def test_good_aws_rules_are_accepted(auth_root):
    rules = [
        AWS_RULE,
        dict(AWS_RULE, arn="arn:aws:sts::123456789012:assumed-role/ci-deploy/build-*", tier="master", ttl_secs=60),
        dict(AWS_RULE, arn="arn:aws-us-gov:iam::123456789012:user/*", tier="downloader", scopes=[], ttl_secs=3600),
        dict(AWS_RULE, scopes=["acme", "acme/network", "acme/network/aws", "a_b/c-d/e2"]),
    ]
    code, message, _ = auth_root(domain_name="registry.example.com", aws_trust_rules=rules)
    assert code == 0, message


def test_a_misspelt_rule_attribute_is_a_type_error(auth_root):
    # list(object) with every attribute required: "scope" instead of "scopes" cannot slip
    # through as a rule that grants every module.
    rule = {"arn": AWS_RULE["arn"], "tier": "uploader", "scope": ["acme"], "ttl_secs": 900}
    code, message, _ = auth_root(domain_name="registry.example.com", aws_trust_rules=[rule])
    assert code != 0 and 'attribute "scopes" is required' in message, message


@pytest.mark.parametrize(
    "server_id, sts_endpoint, expected",
    [
        ("registry example.com", "https://sts.amazonaws.com/", "aws_exchange_server_id must be 1-256 visible ASCII"),
        ("", "https://sts.amazonaws.com/", "aws_exchange_server_id must be 1-256 visible ASCII"),
        ("registry.example.com", "http://sts.amazonaws.com/", "aws_sts_endpoint must be an https:// URL"),
        ("registry.example.com", "https://sts.amazonaws.com/?Action=AssumeRole", "aws_sts_endpoint must be an https:// URL"),
        ("registry.example.com", "https://user@sts.amazonaws.com/", "aws_sts_endpoint must be an https:// URL"),
    ],
)
def test_bad_aws_exchange_settings_are_refused(auth_root, server_id, sts_endpoint, expected):
    refused(auth_root, expected, aws_trust_rules=[AWS_RULE], aws_exchange_server_id=server_id, aws_sts_endpoint=sts_endpoint)


@pytest.mark.parametrize(
    "issuer, expected",
    [
        (dict(GITHUB_ISSUER, issuer="http://token.actions.githubusercontent.com"), "issuer must be an https:// URL"),
        (dict(GITHUB_ISSUER, issuer="token.actions.githubusercontent.com"), "issuer must be an https:// URL"),
        (dict(GITHUB_ISSUER, issuer="https://gitlab.com/?x=1"), "issuer must be an https:// URL"),
        (dict(GITHUB_ISSUER, audience=""), "audience must be non-empty"),
        (dict(GITHUB_ISSUER, audience="  "), "audience must be non-empty"),
        (dict(GITHUB_ISSUER, rules=[]), "needs at least one rule"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, claims={})]), "must constrain at least one claim"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, claims={"repository": "*", "ref": "**"})]), "must constrain at least one claim"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, claims={"repository": "acme/infra", " ": "x"})]), "claim names must be non-empty"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, tier="owner")]), "tier must be downloader, uploader or master"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, ttl_secs=0)]), "ttl_secs must be a whole number of seconds from 60 to 3600"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, ttl_secs=86400)]), "ttl_secs must be a whole number of seconds from 60 to 3600"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, scopes=["acme//network"])]), "scope must be a module prefix"),
        (dict(GITHUB_ISSUER, rules=[dict(OIDC_RULE, scopes=["*"])]), "scope must be a module prefix"),
    ],
)
def test_bad_oidc_issuers_are_refused(auth_root, issuer, expected):
    refused(auth_root, expected, oidc_issuers=[issuer])


def test_an_issuer_named_twice_is_refused(auth_root):
    refused(auth_root, "name an issuer twice", oidc_issuers=[GITHUB_ISSUER, GITHUB_ISSUER])


def test_good_oidc_issuers_are_accepted(auth_root):
    issuers = [
        GITHUB_ISSUER,
        {
            "issuer": "https://gitlab.example.com/gitlab",
            "audience": "https://registry.example.com",
            "rules": [
                {"claims": {"project_path": "acme/*", "ref_protected": "true"}, "tier": "uploader", "scopes": ["acme"], "ttl_secs": 3600},
                {"claims": {"namespace_path": "acme"}, "tier": "downloader", "scopes": [], "ttl_secs": 60},
            ],
        },
    ]
    code, message, _ = auth_root(oidc_issuers=issuers)
    assert code == 0, message


# Grants: the exchanges need no AWS permission, so none is added.

def test_origin_role_gains_no_permission_for_the_exchanges(module):
    grants = origin_grants(module)
    assert set(grants) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Scan",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        # The archive URL signing key (not the exchanges': test_distribution.py).
        "secretsmanager:GetSecretValue",
    }
    assert not any(action.startswith("sts:") for action in grants)
    # Only the Lambda service assumes the role; no other policy is attached to it.
    assert set(blocks_of(module, "resource", "aws_iam_role_policy")) == {"origin", "edge"}
    assert not blocks_of(module, "resource", "aws_iam_role_policy_attachment")
    policy = (MODULE / "lambda_origin.tf").read_text()
    assert "No sts:* action, on purpose" in policy


def test_origin_reaches_sts_and_issuers_directly(module):
    # Not in a VPC: the exchanges call STS and the OIDC issuers over the internet.
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    assert "vpc_config" not in origin


def test_exchanged_tokens_are_removed_by_the_table_ttl(module):
    table = blocks_of(module, "resource", "aws_dynamodb_table")["tokens"]
    ttl = one(table["ttl"])
    assert ttl["attribute_name"] == "expires_at"
    assert ttl["enabled"] is True


# The edge side: POST /v1/auth/* reaches the origin; WAF limits it per IP.

def test_api_behaviour_forwards_post_bodies_to_the_origin(distribution):
    api = behaviour(distribution, "/v1/*")
    assert "POST" in api["allowed_methods"]
    assert "POST" not in api["cached_methods"]
    assert expr(api["target_origin_id"]) == "local.lambda_origin_id"
    # The viewer-request function does not need the body; CloudFront forwards it either way.
    assert one(api["lambda_function_association"])["include_body"] is False


def test_edge_routes_exchanges_publicly():
    routes = (REPO / "edge" / "src" / "route.rs").read_text()
    assert 'pattern: "/v1/auth/{method}"' in routes
    assert "Public: the body is" in routes


def test_waf_rate_limits_exchanges_per_ip_when_configured(module):
    acl = blocks_of(module, "resource", "aws_wafv2_web_acl")["registry"]
    dynamic = one([d["rule"] for d in acl["dynamic"] if "rule" in d])
    for_each = re.sub(r"'\$\{(.*?)\}'", r"\1", expr(dynamic["for_each"]))  # python-hcl2 quotes list items
    assert for_each == "local.exchanges_enabled ? [var.waf_exchange_rate_limit] : []"
    rule = one(dynamic["content"])
    assert rule["name"] == "rate-limit-exchanges-per-ip"
    assert rule["priority"] != one(acl["rule"])["priority"]
    assert one(rule["action"]) == {"block": [{}]}
    rate = one(one(rule["statement"])["rate_based_statement"])
    assert rate["aggregate_key_type"] == "IP"
    assert expr(rate["limit"]) == "rule.value"
    match = one(one(rate["scope_down_statement"])["byte_match_statement"])
    assert match["positional_constraint"] == "STARTS_WITH"
    assert match["search_string"] == "/v1/auth/"
    assert "uri_path" in one(match["field_to_match"])
    # No rule of the module's web ACL inspects bodies: exchange requests pass below the limits.
    assert "body" not in json.dumps(acl)
    for good in (10, 300, 2000000000):
        assert accepts(module, "waf_exchange_rate_limit", good), good
    for bad in (9, 0, 300.5):
        assert not accepts(module, "waf_exchange_rate_limit", bad), bad


# Outputs, example, docs.

def test_exchange_outputs(module):
    outputs = outputs_of(module)
    assert "credentials_helper \\\"tfreg\\\" {}" in outputs["credentials_helper_config"]["value"]
    assert expr(outputs["aws_exchange_server_id_check"]["value"]) == "local.aws_exchange_server_id_check"
    assert "/v1/auth/aws" in outputs["token_exchange"]["value"]
    assert "/v1/auth/oidc" in outputs["token_exchange"]["value"]


def test_complete_example_shows_trust_rules(example):
    registry = one([m["registry"] for m in example["module"] if "registry" in m])
    assert expr(registry["aws_trust_rules"]) == "local.aws_trust_rules"
    assert expr(registry["oidc_issuers"]) == "local.oidc_issuers"
    local = merged_locals(example)
    for attribute in ("arn", "tier", "scopes", "ttl_secs"):
        assert attribute in local["aws_trust_rules"], attribute
    for attribute in ("issuer", "audience", "claims", "repository", "project_path", "tier", "scopes", "ttl_secs"):
        assert attribute in local["oidc_issuers"], attribute
    # Nothing is trusted until the operator names roles, repositories or projects.
    variables = variables_of(example)
    for name in ("ci_role_arns", "github_repositories", "gitlab_projects"):
        assert variables[name]["default"] == [], name


def test_readmes_document_the_exchanges():
    readme = (REPO / "README.md").read_text()
    assert "## CI without secrets" in readme
    for needle in ("id-token: write", "id_tokens:", "/v1/auth/oidc", "/v1/auth/aws", "TF_TOKEN_", 'credentials_helper "tfreg" {}', "terraform-credentials-tfreg"):
        assert needle in readme, needle
    module_readme = (MODULE / "README.md").read_text()
    for name in ("aws_trust_rules", "oidc_issuers", "aws_exchange_server_id", "aws_sts_endpoint", "waf_exchange_rate_limit"):
        assert name in module_readme, name
