"""Shared parsing helpers, constants and fixtures of the deployment module's structural
tests: python-hcl2 parses the HCL; expressions come back as "${...}" strings. The test files
import everything from here (fixtures included, so pytest finds them).
"""

import ast
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

DISCOVERY_BYTES = b'{"modules.v1":"/v1/modules/","providers.v1":"/v1/providers/"}'


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


def origin_environment(module):
    """{name: expression} of the origin Lambda's environment variables: the settings, the
    exchanges' TFREG_AUTH_CONFIG (present only when a trust rule is set), the provider
    mirror's TFREG_PROVIDER_MIRROR_* (only with an upstream; for both, the expressions here are
    the conditional's "then" values) and the two secrets, merged in a local (lambda_origin.tf)
    that the plan also measures."""
    origin = blocks_of(module, "resource", "aws_lambda_function")["origin"]
    assert expr(one(origin["environment"])["variables"]) == "local.origin_environment"
    local = merged_locals(module)
    assert expr(local["origin_environment"]) == ORIGIN_ENVIRONMENT_MERGE
    settings, secrets = local["origin_settings"], local["origin_secrets"]
    auth, mirror = origin_auth_settings(module), origin_mirror_settings(module)
    parts = [set(settings), set(auth), set(mirror), set(secrets)]
    assert sum(len(p) for p in parts) == len(set().union(*parts)), "a variable set twice"
    return {**settings, **auth, **mirror, **secrets}


ORIGIN_ENVIRONMENT_MERGE = (
    "merge(local.origin_settings, local.origin_auth_settings, local.origin_mirror_settings, local.origin_secrets)"
)


def origin_mirror_settings(module):
    """{name: expression} of what `local.provider_mirror_enabled ? { NAME = value, ... } : {}`
    adds (lambda_origin.tf)."""
    text = expr(merged_locals(module)["origin_mirror_settings"])
    # python-hcl2 writes the object literal as a Python dict: {'NAME': '${value}', ...}.
    match = re.fullmatch(r"local\.provider_mirror_enabled \? (\{.*\}) : \{\}", text, re.S)
    assert match, text
    return {name: expr(value) for name, value in ast.literal_eval(match.group(1)).items()}


def origin_auth_settings(module):
    """{name: expression} of what `local.exchanges_enabled ? { NAME = value } : {}` adds."""
    text = expr(merged_locals(module)["origin_auth_settings"])
    # python-hcl2 writes the object literal as a Python dict: {'NAME': '${value}'}.
    match = re.fullmatch(r"local\.exchanges_enabled \? \{\s*'(\w+)'\s*:\s*'(.*)'\s*\} : \{\}", text, re.S)
    assert match, text
    return {match.group(1): expr(match.group(2))}


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


def parse_dir_files(*paths):
    merged = {}
    for path in paths:
        with path.open() as f:
            for key, blocks in hcl2.load(f).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


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


def origin_grants(module):
    """{action: [resource, ...]} of the origin role's policy."""
    doc = blocks_of(module, "data", "aws_iam_policy_document")["origin"]
    grants = {}
    for statement in doc["statement"]:
        assert statement.get("effect", "Allow") == "Allow"
        for action in statement["actions"]:
            grants.setdefault(action, []).extend(expr(r) for r in statement["resources"])
    return grants


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


# The script, run as the module runs it, on a bundle with a binary edge.wasm.

BUILD_EDGE_ZIP = MODULE / "scripts" / "build-edge-zip.sh"
WASM_BYTES = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 4  # not UTF-8: archive_file's source blocks could not hold it
INDEX_TEXT = "export const handler = async (event) => event;\n"
CONFIG_TEXT = '{"origin_secret":"s3cr3t-origin-value","table":"tfreg-tokens"}'


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


# Locals as written, for roots that the real Terraform CLI plans beside variables.tf.

def local_source(path, name):
    """The HCL text of the expression of local `name` in the .tf file `path`, exactly as
    written (comments inside it included), so that a test root can declare it again."""
    text = path.read_text()
    match = re.search(rf"^  {name} += ", text, re.M)
    assert match, f"no local {name} in {path.name}"
    start = i = match.end()
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i + 1)
            continue
        if c == "#" or text.startswith("//", i):
            i = text.index("\n", i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "\n" and depth == 0:
            break
        i += 1
    return text[start:i]


def _skip_string(text, i):
    """The index after the string whose contents start at `i` (templates included)."""
    while text[i] != '"':
        if text[i] == "\\":
            i += 2
        elif text.startswith("${", i):
            i += 2
            depth = 1
            while depth:
                if text[i] == '"':
                    i = _skip_string(text, i + 1)
                    continue
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
        else:
            i += 1
    return i + 1


def variables_root(root):
    """Initialises `root` (a directory of .tf files with no resources, so no provider to
    download) with the real Terraform CLI, and returns apply(**variables): each call applies it
    with those variables into a state of its own, returning (exit code, the output as one line,
    the outputs' values or None)."""
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    subprocess.run([str(TERRAFORM), "init", "-no-color"], cwd=root, env=env, check=True, capture_output=True)
    runs = iter(range(1000))

    def apply(**variables):
        n = next(runs)
        (root / f"run{n}.tfvars.json").write_text(json.dumps(variables))
        done = subprocess.run(
            [str(TERRAFORM), "apply", "-no-color", "-input=false", "-auto-approve", f"-state=run{n}.tfstate", f"-var-file=run{n}.tfvars.json"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        message = " ".join((done.stdout + done.stderr).split())
        if done.returncode != 0:
            return done.returncode, message, None
        shown = subprocess.run(
            [str(TERRAFORM), "output", "-no-color", "-json", f"-state=run{n}.tfstate"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return 0, message, {name: body["value"] for name, body in json.loads(shown.stdout).items()}

    return apply

