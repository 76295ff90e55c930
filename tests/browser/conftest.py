"""The real parts the web page's test drives: the debug `tfreg serve` binary over HTTPS with a
fresh data directory, modules published through its HTTP API, and headless Debian Chromium
through chromedriver. Nothing leaves the machine: Chromium's background traffic is off and
the registry listens on loopback."""

import base64
import hashlib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
# cryptography comes with moto[server], in the same .venv (tests/setup.sh).
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
TFREG = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "tfreg"
CHROMIUM = os.environ.get("TFREG_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TFREG_CHROMEDRIVER", "/usr/bin/chromedriver")


class Registry:
    def __init__(self, base, ca_file, master):
        self.base = base
        self.host = base.split("://", 1)[1]
        self.ca_file = ca_file
        self.master = master
        self.tls = ssl.create_default_context(cafile=str(ca_file))

    def request(self, method, path, body=None, token=None):
        """(status, headers, body bytes) of one request; errors are answers, not exceptions."""
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.tls), NoRedirect()
        )
        try:
            with opener.open(req, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def publish(self, namespace, name, system, version, files, query=""):
        status, _, body = self.request(
            "PUT",
            f"/v1/modules/{namespace}/{name}/{system}/{version}{query}",
            body=tar_gz(files),
            token=self.master,
        )
        assert status == 201, body
        return json.loads(body)

    def spki_sha256(self):
        """The base64 SHA-256 of the server certificate's public key, after checking that
        the certificate chains to the registry's CA (Chromium is told to trust that key)."""
        host, port = self.host.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            with self.tls.wrap_socket(sock, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
        spki = (
            x509.load_der_x509_certificate(der)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def tar_gz(files):
    """A module archive: {path: text}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class PublicRegistry(BaseHTTPRequestHandler):
    """A stand-in for the public registry (the real one is never reached from tests): its
    discovery document, and for each module in `MODULES` a version list, a download answer
    pointing at an archive it serves itself, and that archive."""

    MODULES = {}  # "ns/name/system/version" -> {path: text}

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if self.path == "/.well-known/terraform.json":
            return self.answer(200, json.dumps({"modules.v1": "/v1/modules/"}).encode())
        if parts[:2] == ["v1", "modules"] and parts[-1] == "versions":
            module = "/".join(parts[2:5])
            versions = [k.rsplit("/", 1)[1] for k in self.MODULES if k.startswith(module + "/")]
            body = {"modules": [{"versions": [{"version": v} for v in versions]}]}
            return self.answer(200 if versions else 404, json.dumps(body).encode())
        if parts[:2] == ["v1", "modules"] and parts[-1] == "download":
            key = "/".join(parts[2:6])
            if key in self.MODULES:
                return self.answer(204, b"", {"X-Terraform-Get": f"/files/{key}.tar.gz"})
        if parts[0] == "files" and self.path.endswith(".tar.gz"):
            key = "/".join(parts[1:])[: -len(".tar.gz")]
            if key in self.MODULES:
                return self.answer(200, tar_gz(self.MODULES[key]))
        return self.answer(404, b'{"errors":["Not Found"]}')

    def answer(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def public_registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PublicRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def registry(public_registry):
    if not TFREG.is_file():
        pytest.fail(f"no {TFREG}: build it first (cargo build -p tfreg-cloudfront --bin tfreg)")
    work = Path(tempfile.mkdtemp(prefix="tfreg-browser-"))
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen(
        [str(TFREG), "serve", "--data-dir", str(work / "data"), "--listen", "127.0.0.1:0",
         "--proxy", "--proxy-upstream", f"http://127.0.0.1:{public_registry.server_address[1]}", "--proxy-timeout", "10"],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        first = server.stdout.readline().decode().strip()
        prefix = "tfreg listening on "
        if not first.startswith(prefix):
            log.flush()
            pytest.fail(f"unexpected first line {first!r}: {(work / 'serve.log').read_text()}")
        base = first[len(prefix):]
        # The banner tells where the page is.
        banner = [server.stdout.readline().decode() for _ in range(4)]
        assert f"  Web page:        {base}/ui/" in "".join(banner), banner
        # Keep reading its stdout so it never blocks on a full pipe.
        threading.Thread(target=server.stdout.read, daemon=True).start()
        data = work / "data"
        yield Registry(
            base,
            data / "tls" / "ca.pem",
            (data / "master-token").read_text().strip(),
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(registry):
    profile = tempfile.mkdtemp(prefix="tfreg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        # Trust exactly the key of the registry's certificate, which the fixture has checked
        # against the registry's own CA: Chromium reads no CA file from the command line, and
        # an NSS database would need another package. Every other certificate is still checked.
        f"--ignore-certificate-errors-spki-list={registry.spki_sha256()}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(
        options=options,
        service=Service(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL),
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
