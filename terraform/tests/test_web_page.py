"""Structural tests of the web page on AWS (web.tf): the files of web/ published under ui/ with
their content types, the ui/ key holding the page, the CloudFront behaviour that serves them
from S3 with no function, the page's security headers, and what the bucket policy opens.

Run: .venv/bin/python -m pytest terraform/tests
"""

import fnmatch

from tfmodule import *  # noqa: F401,F403 (helpers and fixtures)

WEB = MODULE / "web"

# What each kind of file the page is made of must be served as.
EXPECTED_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
}

BUCKET = "${aws_s3_bucket.archives.arn}"


def web_files():
    """What fileset(path.module, "web/*") gives: the files directly in web/ (not below)."""
    return sorted(path for path in WEB.iterdir() if path.is_file())


def page_objects(module):
    return blocks_of(module, "resource", "aws_s3_object")


def content_type_of(module, path):
    """The content type web.tf gives `path`, evaluated as its expression does: the map entry
    for the lowercased last extension (a missing entry fails the plan)."""
    types = merged_locals(module)["page_content_types"]
    extension = path.name.split(".")[-1].lower()
    assert extension in types, f"{path.name}: no content type for .{extension} in page_content_types"
    return types[extension]


def first_behaviour_for(distribution, path):
    """The behaviour CloudFront picks for `path`: the first ordered one whose pattern matches
    ("*" is zero or more characters, "/" included; the leading "/" is optional), else the
    default."""
    for entry in distribution["ordered_cache_behavior"]:
        pattern = entry["path_pattern"]
        if fnmatch.fnmatchcase(path.lstrip("/"), pattern.lstrip("/")):
            return pattern
    return "default"


# The files.


def test_the_page_is_made_of_the_files_the_page_helper_names():
    names = {path.name for path in web_files()}
    assert {"index.html", "app.js", "app.css"} <= names, names


def test_every_file_of_web_is_published_under_ui_with_its_content_type(module):
    page = page_objects(module)["page"]
    assert expr(page["for_each"]) == "local.page_files"
    assert merged_locals(module)["page_files"] == '${fileset(path.module, "web/*")}'
    assert merged_locals(module)["page_prefix"] == "ui/"
    assert page["key"] == "${local.page_prefix}${basename(each.value)}"
    assert page["source"] == "${path.module}/${each.value}"
    assert expr(page["etag"]) == 'filemd5("${path.module}/${each.value}")'
    assert expr(page["content_type"]) == 'local.page_content_types[lower(reverse(split(".", each.value))[0])]'
    assert page["cache_control"] == "no-cache"
    assert expr(page["bucket"]) == "aws_s3_bucket.archives.id"
    for path in web_files():
        served_as = content_type_of(module, path)
        expected = EXPECTED_TYPES.get(path.suffix.lstrip(".").lower())
        if expected:
            assert served_as.split(";")[0] == expected, (path.name, served_as)
        if served_as.startswith("text/"):
            assert "charset=utf-8" in served_as, (path.name, served_as)


def test_the_ui_key_itself_holds_the_page(module):
    # A viewer asking for /ui/ makes CloudFront ask S3 for the key ui/, which holds index.html.
    index = page_objects(module)["page_index"]
    assert expr(index["key"]) == "local.page_prefix"
    assert index["source"] == "${path.module}/web/index.html"
    assert expr(index["etag"]) == 'filemd5("${path.module}/web/index.html")'
    assert expr(index["content_type"]) == 'local.page_content_types["html"]'
    assert merged_locals(module)["page_content_types"]["html"].startswith("text/html")
    assert index["cache_control"] == "no-cache"
    assert (WEB / "index.html").is_file()


# The behaviour.


def test_the_page_is_served_from_s3_with_no_function(distribution):
    page = behaviour(distribution, "/ui/*")
    assert expr(page["target_origin_id"]) == "local.s3_origin_id"
    assert "lambda_function_association" not in page
    assert "function_association" not in page
    assert page["allowed_methods"] == ["GET", "HEAD"]
    assert page["cached_methods"] == ["GET", "HEAD"]
    assert page["compress"] is True
    assert page["viewer_protocol_policy"] in ("https-only", "redirect-to-https")
    assert policy_ref(page["cache_policy_id"], "aws_cloudfront_cache_policy") == "static"
    assert "origin_request_policy_id" not in page


def test_the_s3_origin_is_read_through_origin_access_control(distribution):
    s3_origin = next(o for o in distribution["origin"] if expr(o["origin_id"]) == "local.s3_origin_id")
    assert expr(s3_origin["origin_access_control_id"]) == "aws_cloudfront_origin_access_control.archives.id"


def test_the_page_and_its_files_reach_the_page_behaviour_and_nothing_else_does(distribution):
    for path in ["/ui/", "/ui/index.html", "/ui/app.js", "/ui/app.css"]:
        assert first_behaviour_for(distribution, path) == "/ui/*", path
    # / stays on the default behaviour (the registry's redirect to /ui/), and the API, archives
    # and discovery keep their own.
    assert first_behaviour_for(distribution, "/") == "default"
    assert first_behaviour_for(distribution, "/v1/modules") == "/v1/*"
    assert first_behaviour_for(distribution, "/archives/acme/vpc/aws/1.0.0/module.tar.gz") == "/archives/*"
    assert first_behaviour_for(distribution, "/.well-known/terraform.json") == "/.well-known/*"


# The headers.


def page_headers(module, distribution):
    name = policy_ref(behaviour(distribution, "/ui/*")["response_headers_policy_id"], "aws_cloudfront_response_headers_policy")
    return one(blocks_of(module, "resource", "aws_cloudfront_response_headers_policy")[name]["security_headers_config"])


def test_the_page_has_a_strict_content_security_policy(module, distribution):
    csp_block = one(page_headers(module, distribution)["content_security_policy"])
    assert expr(csp_block["content_security_policy"]) == "local.page_content_security_policy"
    assert csp_block["override"] is True
    csp = merged_locals(module)["page_content_security_policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (part.strip() for part in csp.split(";")) if d}
    assert directives["default-src"] == ["'self'"], csp
    assert directives["frame-ancestors"] == ["'none'"], csp
    assert directives["base-uri"] == ["'none'"], csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp


def test_the_page_has_the_headers_tfreg_serve_sends():
    # The page is served by tfreg serve too (cloudfront/src/page.rs); both send the same policy
    # and the same content types.
    served = REPO / "cloudfront" / "src" / "page.rs"
    if not served.is_file():
        pytest.skip("cloudfront/src/page.rs (tfreg serve's page) is not in this tree yet")
    source = served.read_text()
    constant = re.search(r'CONTENT_SECURITY_POLICY: &str =\s*"((?:[^"\\]|\\.)*)"', source, re.S)
    assert constant, "CONTENT_SECURITY_POLICY in page.rs"
    served_csp = re.sub(r"\\\n\s*", "", constant.group(1))
    module = parse_dir(MODULE)
    assert merged_locals(module)["page_content_security_policy"] == served_csp
    for name, content_type in re.findall(r'name: "([^"]+)",\s*content_type: "([^"]+)"', source):
        assert content_type_of(module, WEB / name) == content_type, name


def test_the_page_has_the_security_headers_of_every_other_answer(module, distribution):
    page = page_headers(module, distribution)
    shared = one(blocks_of(module, "resource", "aws_cloudfront_response_headers_policy")["security"]["security_headers_config"])
    for header in ("strict_transport_security", "content_type_options", "frame_options", "referrer_policy"):
        assert page[header] == shared[header], header
    assert one(page["frame_options"])["frame_option"] == "DENY"
    assert one(page["referrer_policy"])["referrer_policy"] == "no-referrer"
    assert one(page["strict_transport_security"])["access_control_max_age_sec"] >= 31536000
    assert one(page["content_type_options"])["override"] is True


# The bucket policy.


def test_cloudfront_may_read_the_page_and_nothing_broader_than_before(module):
    doc = blocks_of(module, "data", "aws_iam_policy_document")["archives_bucket"]
    cloudfront_reads = [
        statement
        for statement in doc["statement"]
        if statement.get("effect", "Allow") == "Allow"
        and any(p["type"] == "Service" and "cloudfront.amazonaws.com" in p["identifiers"] for p in statement.get("principals", []))
    ]
    statement = one(cloudfront_reads)
    assert statement["actions"] == ["s3:GetObject"]
    assert statement["resources"] == [
        f"{BUCKET}/${{local.archive_prefix}}*",
        f"{BUCKET}/.well-known/*",
        f"{BUCKET}/openapi.json",
        f"{BUCKET}/${{local.page_prefix}}*",
    ]
    assert f"{BUCKET}/*" not in statement["resources"]
