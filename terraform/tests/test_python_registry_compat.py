"""Structural tests of the deployment module: The Python registry's Terraform interface: its users' roots keep planning.

Run: .venv/bin/python -m pytest terraform/tests
"""

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)


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
