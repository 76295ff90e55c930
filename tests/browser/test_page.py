"""The registry's web page in a real browser: headless Chromium against the real `tfreg serve`.

The tests run in file order and share one browser session, as a reader would: the page asks
for a token, the reader signs in, browses, searches, opens modules, signs out.
Run with tests/browser/run.sh; TFREG_SCREENSHOT=1 also saves tests/browser/registry-page.png.
"""

import json
import os
import urllib.parse
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

SCREENSHOT = Path(__file__).with_name("registry-page.png")
REPOSITORY = "https://github.com/acme/terraform-aws-vpc"
FILLERS = 20  # with vpc, evil, a pinned and a proxied module: 24, more than a page of 20
MODULES = 4 + FILLERS

VPC_README = """# VPC

Builds a VPC with public and private subnets, NAT gateways and flow logs.

## Usage

```hcl
module "vpc" {
  source = "registry.example.com/acme/vpc/aws"
  name   = "main"
  azs    = ["eu-west-1a", "eu-west-1b"]
}
```

| Subnet  | Routed through |
|---------|----------------|
| public  | internet gateway |
| private | NAT gateway |
"""

VPC_MAIN = """
terraform {
  required_version = ">= 1.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource"
  default     = {}
}

variable "name" {
  type        = string
  description = "Name of the VPC"
}

variable "cidr" {
  type        = string
  description = "The VPC's CIDR block"
  default     = "10.0.0.0/16"
}

variable "azs" {
  type        = list(string)
  description = "Availability zones for the subnets"
}

output "vpc_id" {
  description = "The ID of the VPC"
  value       = "vpc-123"
}

output "private_subnets" {
  description = "IDs of the private subnets"
  value       = []
}
"""

# Raw HTML in Markdown, each piece an attempt to run script in the reader's page.
EVIL_README = """# Evil

Harmless words stay.

<script>window.__pwned = 1</script>

<img src="x" onerror="window.__pwned = 2">

<a href="javascript:window.__pwned = 3">js link</a>

<a href="data:text/html,<script>window.__pwned = 4</script>">data link</a>

<p onclick="window.__pwned = 5">click me</p>

[markdown js link](javascript:window.__pwned=6)

[markdown data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

<iframe src="javascript:window.__pwned = 7"></iframe>

<svg onload="window.__pwned = 8"><circle r="1"/></svg>

<div style="background:url(javascript:window.__pwned=9)" onmouseover="window.__pwned = 10">styled</div>

<form action="javascript:window.__pwned = 11"><button formaction="javascript:window.__pwned = 12">go</button></form>
"""


@pytest.fixture(scope="session")
def modules(registry, public_registry):
    vpc = {"README.md": VPC_README, "main.tf": VPC_MAIN,
           "modules/nat/main.tf": 'variable "subnet_ids" {\n  type = list(string)\n}\n'
                                  'output "nat_ids" {\n  value = []\n}\n',
           "examples/complete/main.tf": 'module "vpc" {\n  source = "../.."\n'
                                        '  name = "x"\n  azs = []\n}\n'}
    registry.publish("acme", "vpc", "aws", "1.0.0", vpc)
    registry.publish("acme", "vpc", "aws", "1.2.0", vpc,
                     "?repository_url=" + urllib.parse.quote(REPOSITORY, safe=""))
    registry.publish("acme", "evil", "aws", "0.3.1",
                     {"README.md": EVIL_README, "main.tf": 'variable "x" {}\n'})
    # From the public registry's stand-in: one pinned, one proxied (fetched through this
    # registry on its first download).
    upstream = public_registry.RequestHandlerClass.MODULES
    upstream["hashicorp/consul/aws/0.12.0"] = {
        "README.md": "# Consul\n\nA Consul cluster.\n", "main.tf": 'variable "x" {}\n'}
    upstream["cloudposse/label/null/0.25.0"] = {
        "README.md": "# Label\n\nConsistent resource names.\n", "main.tf": 'variable "x" {}\n'}
    status, _, body = registry.request("POST", "/v1/pins/hashicorp/consul/aws/0.12.0",
                                       token=registry.master)
    assert status == 201, body
    status, _, body = registry.request("GET", "/v1/modules/cloudposse/label/null/0.25.0/download",
                                       token=registry.master)
    assert status == 204, body
    for i in range(FILLERS):
        registry.publish("acme", f"filler-{i:02}", "google", "2.0.0",
                         {"README.md": f"# Filler {i}\n\nA filler module number {i}.\n",
                          "main.tf": 'variable "x" {}\n'})


@pytest.fixture(scope="session")
def console(browser):
    """Every browser console message so far, kept (reading the log empties it)."""
    kept = []

    def read():
        kept.extend(browser.get_log("browser"))
        return kept

    return read


def wait(browser, condition, timeout=20):
    # The page replaces what it shows at once: an element found a moment ago may be gone.
    return WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException]
                         ).until(condition)


def status_text(browser):
    return browser.find_element(By.ID, "status").text


def open_page(browser, registry, hash_=""):
    # A fresh load each time: from one page URL to another that differs only in its hash
    # would be no load at all. The tab (and so its sessionStorage) stays the same.
    browser.get("about:blank")
    browser.get(registry.base + "/ui/" + hash_)
    wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")


def rendered(browser, text):
    """Waits until the main element's first heading holds `text`."""
    wait(browser, lambda d: text in d.execute_script(
        "const h = document.querySelector('#main h1'); return h ? h.textContent : ''"))


# --- headers ----------------------------------------------------------------------------

def test_every_page_file_is_served_with_its_type_and_the_security_headers(registry):
    for path, content_type in (("/ui/", "text/html; charset=utf-8"),
                               ("/ui/index.html", "text/html; charset=utf-8"),
                               ("/ui/app.js", "text/javascript; charset=utf-8"),
                               ("/ui/app.css", "text/css; charset=utf-8"),
                               ("/ui/favicon.svg", "image/svg+xml")):
        status, headers, body = registry.request("GET", path)
        assert status == 200, path
        assert headers["Content-Type"] == content_type, path
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
        assert "base-uri 'none'" in csp and "form-action 'none'" in csp, csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-cache"
        assert body
    status, headers, _ = registry.request("GET", "/ui/secrets.txt")
    assert status == 404
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = registry.request("GET", "/")
    assert (status, headers["Location"]) == (302, "/ui/")


# --- signing in -------------------------------------------------------------------------

def test_without_a_token_the_page_says_one_is_needed(registry, browser, modules):
    open_page(browser, registry)
    sign_in = browser.find_element(By.ID, "sign-in")
    wait(browser, lambda d: sign_in.is_displayed())
    assert "token is needed" in status_text(browser)
    assert browser.find_element(By.ID, "token").get_attribute("type") == "password"
    assert browser.execute_script("return sessionStorage.length") == 0


def test_signing_in_keeps_the_token_in_the_tab_only(registry, browser):
    field = browser.find_element(By.ID, "token")
    field.send_keys(registry.master)
    field.send_keys(Keys.ENTER)
    wait(browser, lambda d: not d.find_element(By.ID, "sign-in").is_displayed())
    assert browser.find_element(By.ID, "sign-out").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('tfreg.token')") == registry.master
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.get_cookies() == []
    assert field.get_attribute("value") == ""


# --- browsing and searching (the catalogue API) -------------------------------------------

def cards(browser):
    """{"ns/name": card text} of the modules listed."""
    return browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#main .card')]"
        "  .map(c => [c.querySelector('h2 a').textContent, c.innerText]))")


def test_browsing_lists_modules_a_page_at_a_time(registry, browser):
    open_page(browser, registry, "#/")
    rendered(browser, "All modules")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#main .card")) == 20)
    first_page = cards(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=prev]")
    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    wait(browser, lambda d: "offset=20" in d.current_url)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#main .card")) == MODULES - 20)
    second_page = cards(browser)
    assert not set(first_page) & set(second_page)
    listed = {**first_page, **second_page}
    assert len(listed) == MODULES
    assert browser.find_elements(By.CSS_SELECTOR, "a[rel=prev]")
    assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=next]")
    # Provider, latest version and description on each card; pins and proxied modules marked.
    vpc = listed["acme/vpc"]
    assert "aws" in vpc and "v1.2.0" in vpc and "Builds a VPC" in vpc
    assert "pinned" not in vpc and "proxied" not in vpc
    assert "pinned" in listed["hashicorp/consul"] and "v0.12.0" in listed["hashicorp/consul"]
    assert "proxied" in listed["cloudposse/label"] and "null" in listed["cloudposse/label"]
    # Back to the first page.
    browser.find_element(By.CSS_SELECTOR, "a[rel=prev]").click()
    wait(browser, lambda d: cards(d) == first_page)


def test_searching_finds_a_module_and_opens_it(registry, browser):
    query = browser.find_element(By.ID, "q")
    query.clear()
    query.send_keys("vpc")
    query.send_keys(Keys.ENTER)
    wait(browser, lambda d: "#/search?q=vpc" in d.current_url)
    rendered(browser, "vpc")
    links = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#main .card h2 a"))
    names = [a.text for a in links]
    assert "acme/vpc" in names
    assert not any(n.startswith("acme/filler") for n in names)
    next(a for a in links if a.text == "acme/vpc").click()
    wait(browser, lambda d: d.current_url.endswith("#/modules/acme/vpc/aws/1.2.0"))
    rendered(browser, "acme/vpc/aws")


# --- a module's page --------------------------------------------------------------------

def test_a_module_page_shows_its_readme_inputs_and_how_to_use_it(registry, browser):
    open_page(browser, registry, "#/modules/acme/vpc/aws")
    rendered(browser, "acme/vpc/aws")
    assert "v1.2.0" in browser.find_element(By.CSS_SELECTOR, "#main h1").text
    readme = browser.find_element(By.ID, "readme")
    assert "Builds a VPC with public and private subnets" in readme.text
    assert readme.find_element(By.CSS_SELECTOR, "h2").text == "Usage"
    assert readme.find_elements(By.CSS_SELECTOR, "table")

    inputs = browser.find_element(By.CSS_SELECTOR, "[aria-label=Inputs] table")
    rows = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "th, td")]
            for r in inputs.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [r[0] for r in rows[:2]] in (["azs", "name"], ["name", "azs"])
    assert sorted(r[0] for r in rows[2:]) == ["cidr", "tags"]
    assert [r[4] for r in rows] == ["yes", "yes", "no", "no"]
    cidr = next(r for r in rows if r[0] == "cidr")
    assert cidr[1:4] == ["string", "The VPC's CIDR block", '"10.0.0.0/16"']
    outputs = browser.find_element(By.CSS_SELECTOR, "[aria-label=Outputs] table").text
    assert "vpc_id" in outputs and "The ID of the VPC" in outputs
    repository = browser.find_element(By.CSS_SELECTOR, ".facts-list a")
    assert (repository.text, repository.get_attribute("href")) == (REPOSITORY, REPOSITORY)
    assert repository.get_attribute("rel") == "noopener noreferrer"
    providers = browser.find_element(By.CSS_SELECTOR, "[aria-label=Providers] table").text
    assert "hashicorp/aws" in providers and ">= 5.0" in providers

    assert browser.find_element(By.ID, "module-block").text == (
        'module "vpc" {\n'
        f'  source  = "{registry.host}/acme/vpc/aws"\n'
        '  version = "~> 1.2"\n'
        '}'
    )
    credentials = browser.find_element(By.ID, "credentials-block").text
    assert credentials == f'credentials "{registry.host}" {{\n  token = "<your token>"\n}}'
    assert registry.master not in browser.find_element(By.TAG_NAME, "body").text

    # Submodules and examples, folded; their inputs inside.
    parts = browser.find_elements(By.CSS_SELECTOR, "details.part summary")
    assert [p.text.split(" ")[0] for p in parts] == ["modules/nat", "examples/complete"]
    parts[0].click()
    wait(browser, lambda d: "subnet_ids" in d.find_element(By.CSS_SELECTOR, "details.part").text)

    # Every version, linked; the older one opens with its own constraint.
    versions = browser.find_elements(By.CSS_SELECTOR, ".versions a")
    assert [v.text for v in versions] == ["1.2.0", "1.0.0"]
    assert versions[0].get_attribute("aria-current") == "page"
    versions[1].click()
    wait(browser, lambda d: d.current_url.endswith("#/modules/acme/vpc/aws/1.0.0"))
    rendered(browser, "v1.0.0")
    assert '"~> 1.0"' in browser.find_element(By.ID, "module-block").text


def test_a_pinned_module_says_where_it_came_from(registry, browser):
    open_page(browser, registry, "#/modules/hashicorp/consul/aws")
    rendered(browser, "hashicorp/consul/aws")
    provenance = browser.find_element(By.CSS_SELECTOR, "#main .provenance").text
    assert "pinned" in provenance and "Pinned from" in provenance
    open_page(browser, registry, "#/modules/cloudposse/label/null/0.25.0")
    rendered(browser, "cloudposse/label/null")
    assert "Proxied from" in browser.find_element(By.CSS_SELECTOR, "#main .provenance").text


def test_the_keyboard_reaches_everything_from_the_skip_link(registry, browser):
    open_page(browser, registry, "#/modules/acme/vpc/aws")
    rendered(browser, "acme/vpc/aws")
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    keys = ActionChains(browser)
    keys.send_keys(Keys.TAB).perform()
    skip = browser.switch_to.active_element
    assert skip.get_attribute("class") == "skip" and skip.is_displayed()
    keys.send_keys(Keys.ENTER).perform()
    wait(browser, lambda d: d.switch_to.active_element.get_attribute("id") == "main")
    assert browser.current_url.endswith("#/modules/acme/vpc/aws")  # the route stays
    # Onwards, every control is a real link or button.
    seen = set()
    for _ in range(12):
        keys.send_keys(Keys.TAB).perform()
        seen.add(browser.switch_to.active_element.tag_name)
    assert seen <= {"a", "button", "pre", "div", "summary", "input"}
    assert {"a", "button"} <= seen


def test_copying_the_module_block(registry, browser):
    open_page(browser, registry, "#/modules/acme/vpc/aws")
    rendered(browser, "acme/vpc/aws")
    block = browser.find_element(By.ID, "module-block").text
    copy = browser.find_element(By.CSS_SELECTOR, "#module-block + .copy")
    copy.click()
    # Headless Chromium grants the clipboard to a click on a secure page.
    wait(browser, lambda d: "Copied the module block" in status_text(d))
    # Without a clipboard (an old browser, a refusal): the text is selected, and the page says so.
    browser.execute_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    copy.click()
    wait(browser, lambda d: "is selected" in status_text(d))
    assert browser.execute_script("return String(window.getSelection())").strip() == block


def test_a_hostile_readme_renders_inert(registry, browser):
    open_page(browser, registry, "#/modules/acme/evil/aws")
    rendered(browser, "acme/evil/aws")
    readme = browser.find_element(By.ID, "readme")
    assert "Harmless words stay." in readme.text
    # Click and hover everything in it: nothing may run.
    browser.execute_script(
        "for (const n of document.querySelectorAll('#readme *')) {"
        "  n.click(); n.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); }")
    found = browser.execute_script("""
        const readme = document.getElementById('readme');
        const all = [...readme.querySelectorAll('*')];
        return {
          scripts: readme.querySelectorAll('script, iframe, object, embed, svg, form').length,
          handlers: all.flatMap(n => [...n.attributes].map(a => a.name))
                       .filter(a => a.toLowerCase().startsWith('on')),
          urls: all.flatMap(n => ['href', 'src', 'action', 'formaction', 'style']
                       .map(a => (n.getAttribute(a) || '').trim().toLowerCase()))
                   .filter(v => v.startsWith('javascript:') || v.startsWith('data:')
                                || v.includes('javascript')),
          pwned: window.__pwned === undefined ? null : window.__pwned,
        };""")
    assert found == {"scripts": 0, "handlers": [], "urls": [], "pwned": None}
    # A 0.x module: "~> 0.3".
    assert '"~> 0.3"' in browser.find_element(By.ID, "module-block").text
    assert browser.execute_script("return window.__pwned === undefined")


def test_the_page_fits_a_phone(registry, browser):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True})
    try:
        for hash_, heading in (("#/modules/acme/vpc/aws", "acme/vpc/aws"),
                               ("#/", "All modules")):
            open_page(browser, registry, hash_)
            rendered(browser, heading)
            width = browser.execute_script("return window.innerWidth")
            assert width == 375
            assert browser.execute_script(
                "return document.documentElement.scrollWidth") <= width, hash_
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_token_never_leaves_in_a_url(registry, browser):
    sent = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            sent.append(message["params"]["request"])
    assert sent
    assert not [r["url"] for r in sent if registry.master in r["url"]]
    api = [r for r in sent if "/v1/" in r["url"]]
    assert api
    for request in api:
        assert request["url"].startswith(registry.base + "/v1/")
        assert request["headers"].get("Authorization") == "Bearer " + registry.master
    assert registry.master not in browser.current_url
    assert registry.master not in browser.execute_script("return history.length + location.href")


def test_the_console_has_no_errors(browser, console):
    errors = [m for m in console() if m["level"] == "SEVERE"]
    assert errors == []


def test_screenshot_for_the_readme(registry, browser):
    if os.environ.get("TFREG_SCREENSHOT") != "1":
        pytest.skip("TFREG_SCREENSHOT=1 saves tests/browser/registry-page.png")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                             "mobile": False})
    try:
        open_page(browser, registry, "#/modules/acme/vpc/aws")
        rendered(browser, "acme/vpc/aws")
        browser.execute_script("document.activeElement.blur()")
        browser.save_screenshot(str(SCREENSHOT))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# --- refusals and signing out (network errors from here on are expected) ------------------

def test_a_refused_token_asks_for_another(registry, browser):
    browser.execute_script("sessionStorage.setItem('tfreg.token', 'tfr_not-a-real-token')")
    open_page(browser, registry, "#/modules/acme/vpc/aws")
    wait(browser, lambda d: d.find_element(By.ID, "sign-in").is_displayed())
    assert "401" in status_text(browser)
    assert browser.execute_script("return sessionStorage.getItem('tfreg.token')") is None


def test_signing_out_forgets_the_token(registry, browser):
    browser.execute_script(f"sessionStorage.setItem('tfreg.token', {json.dumps(registry.master)})")
    open_page(browser, registry, "#/modules/acme/vpc/aws")
    rendered(browser, "acme/vpc/aws")
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, lambda d: d.find_element(By.ID, "sign-in").is_displayed())
    assert browser.execute_script("return sessionStorage.getItem('tfreg.token')") is None
    assert not browser.find_elements(By.ID, "readme")
