"""The benchmark behind `tests/bench/run.sh`: terraform init and the hot endpoints of
`tfreg serve`, side by side with the static floor (nginx answering precomputed files) and the
PyPI peer `lambda-terraform-module-registry`, plus the edge bundle, upload throughput and
scaling. Starts and stops every server itself on free loopback ports; prints the tables and
writes them as Markdown. Run through run.sh, which installs what this needs.

    python bench.py --root REPO --out RESULTS.md --tfreg-binary PATH [--build release|debug]
                    [--quick] [--skip-peer REASON]

Only a release build gives results; with `--build debug` (what the quick run in CI uses) the
numbers are printed but not judged against the targets.
"""

import argparse
import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

MODULE_COUNT = 20
NAMESPACE = "bench"
SYSTEM = "aws"
VERSION = "1.0.0"
BIG_MODULE = "m20"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {process.returncode}")
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Processes:
    """Every server started here, stopped in reverse order on exit (also on failure)."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []

    def start(self, args, **kwargs) -> subprocess.Popen:
        # A process group of its own, so that its children (nginx workers) go with it.
        child = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.children.append(child)
        return child

    def stop(self, child: subprocess.Popen) -> None:
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)


# ---------------------------------------------------------------------------------------------
# Fixtures: 20 modules, their archives, root modules


def make_modules(work: str) -> dict:
    """Writes 20 modules (a few small .tf files each; m20 also carries ~3 MB) and their
    archives. Returns {name: {"dir", "archive", "sha256"}}."""
    rng = random.Random(8)
    modules = {}
    for i in range(1, MODULE_COUNT + 1):
        name = f"m{i:02d}"
        directory = os.path.join(work, "modules", name)
        os.makedirs(directory)
        with open(os.path.join(directory, "main.tf"), "w") as f:
            f.write(f'locals {{\n  name = "{name}-${{var.suffix}}"\n  tags = {{ module = "{name}" }}\n}}\n')
            for j in range(20):
                f.write(f'locals {{\n  value_{j} = "{name}-{j}-{rng.random():.12f}"\n}}\n')
        with open(os.path.join(directory, "variables.tf"), "w") as f:
            f.write('variable "suffix" {\n  type        = string\n  description = "A suffix."\n  default     = "x"\n}\n')
        with open(os.path.join(directory, "outputs.tf"), "w") as f:
            f.write('output "name" {\n  description = "The name."\n  value       = local.name\n}\n')
        with open(os.path.join(directory, "versions.tf"), "w") as f:
            f.write('terraform {\n  required_version = ">= 1.0"\n}\n')
        if name == BIG_MODULE:
            os.makedirs(os.path.join(directory, "files"))
            with open(os.path.join(directory, "files", "payload.txt"), "wb") as f:
                # Base64 of random bytes: compresses to about 3/4, like vendored assets.
                f.write(base64.encodebytes(rng.randbytes(3 * 1024 * 1024 * 3 // 4)))
        archive = os.path.join(work, "archives", f"{name}.tar.gz")
        os.makedirs(os.path.dirname(archive), exist_ok=True)
        with tarfile.open(archive, "w:gz") as tar:
            for entry in sorted(os.listdir(directory)):
                tar.add(os.path.join(directory, entry), arcname=entry)
        digest = hashlib.sha256(open(archive, "rb").read()).hexdigest()
        modules[name] = {"dir": directory, "archive": archive, "sha256": digest}
    return modules


def write_root(directory: str, sources: dict) -> None:
    """A root module using every module; `sources` maps name → (source, version or None)."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "main.tf"), "w") as f:
        for name, (source, version) in sources.items():
            f.write(f'module "{name}" {{\n  source  = "{source}"\n')
            if version:
                f.write(f'  version = "{version}"\n')
            f.write("}\n\n")


# ---------------------------------------------------------------------------------------------
# Certificates and nginx (the floor, and the TLS front of the peer)


def make_ecdsa_ca_and_cert(directory: str) -> tuple[str, str, str]:
    """An ECDSA P-256 CA and a certificate for 127.0.0.1 signed by it. Returns
    (ca.pem, cert.pem, key.pem)."""
    os.makedirs(directory, exist_ok=True)
    ca_key, ca = os.path.join(directory, "ca-key.pem"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, n) for n in ("key.pem", "req.csr", "cert.pem"))
    ext = os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ca_key], **quiet)
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", ca_key, "-days", "30", "-subj", "/CN=bench floor CA", "-out", ca], **quiet)
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], **quiet)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=127.0.0.1", "-out", csr], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", cert], **quiet)
    return ca, cert, key


def nginx_config(work: str, cert: str, key: str, floor_port: int, floor_root: str, modules: dict,
                 peer_port: int | None, peer_upstream: int | None) -> str:
    downloads = []
    for name, module in modules.items():
        target = f"/archives/{name}.tar.gz?checksum=sha256:{module['sha256']}"
        downloads.append(
            f"    location = /v1/modules/{NAMESPACE}/{name}/{SYSTEM}/{VERSION}/download {{\n"
            f'      add_header X-Terraform-Get "{target}" always;\n'
            f"      return 204;\n    }}\n"
        )
    tls = (
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_session_cache shared:SSL:1m;\n"
        "    keepalive_requests 100000;\n    keepalive_timeout 60s;\n"
    )
    peer = ""
    if peer_port:
        peer = (
            f"  upstream peer {{\n    server 127.0.0.1:{peer_upstream};\n    keepalive 64;\n  }}\n"
            f"  server {{\n    listen 127.0.0.1:{peer_port} ssl;\n{tls}"
            # The peer's own discovery document says modules_v1; Terraform needs modules.v1.
            "    location = /.well-known/terraform.json {\n"
            "      default_type application/json;\n"
            '      return 200 \'{"modules.v1":"/v1/modules/"}\';\n    }\n'
            "    location / {\n      proxy_pass http://peer;\n      proxy_http_version 1.1;\n"
            '      proxy_set_header Connection "";\n      proxy_set_header Host $host;\n    }\n  }\n'
        )
    return (
        "daemon off;\nuser root;\nworker_processes auto;\n"
        f"pid {work}/nginx.pid;\nerror_log {work}/nginx-error.log warn;\n"
        "events {\n  worker_connections 1024;\n}\n"
        "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
        f"  client_body_temp_path {work}/nginx-body;\n  proxy_temp_path {work}/nginx-proxy;\n"
        f"  fastcgi_temp_path {work}/nginx-fastcgi;\n  uwsgi_temp_path {work}/nginx-uwsgi;\n"
        f"  scgi_temp_path {work}/nginx-scgi;\n"
        "  types {\n    application/json json;\n    application/gzip gz;\n  }\n"
        f"  server {{\n    listen 127.0.0.1:{floor_port} ssl;\n{tls}"
        f"    root {floor_root};\n"
        "    location = /.well-known/terraform.json {\n      default_type application/json;\n    }\n"
        # A versions.gz beside a versions file (floor_root) is sent to clients that accept gzip.
        "    location /v1/modules/ {\n      default_type application/json;\n"
        "      gzip_static on;\n      gzip_vary on;\n    }\n"
        + "".join(downloads)
        + "    location /archives/ {\n    }\n  }\n"
        + peer
        + "}\n"
    )


def write_precompressed(path: str, body: bytes) -> None:
    """`body` at `path`, and its gzip at `path`.gz when that is smaller (what nginx's
    gzip_static sends to a client that accepts gzip; tfreg serve follows the same rule)."""
    with open(path, "wb") as f:
        f.write(body)
    compressed = gzip.compress(body, mtime=0)
    if len(compressed) < len(body):
        with open(path + ".gz", "wb") as f:
            f.write(compressed)


def floor_root(work: str, modules: dict) -> str:
    """The precomputed files nginx serves: discovery, versions per module, archives."""
    root = os.path.join(work, "floor")
    os.makedirs(os.path.join(root, ".well-known"))
    with open(os.path.join(root, ".well-known", "terraform.json"), "w") as f:
        f.write('{"modules.v1":"/v1/modules/"}')
    os.makedirs(os.path.join(root, "archives"))
    for name, module in modules.items():
        directory = os.path.join(root, "v1", "modules", NAMESPACE, name, SYSTEM)
        os.makedirs(directory)
        write_precompressed(os.path.join(directory, "versions"),
                            json.dumps({"modules": [{"versions": [{"version": VERSION}]}]}).encode())
        shutil.copy(module["archive"], os.path.join(root, "archives", f"{name}.tar.gz"))
    return root


# ---------------------------------------------------------------------------------------------
# tfreg serve


class Tfreg:
    def __init__(self, procs: Processes, binary: str, data_dir: str, extra_args=(), env=None):
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.log = open(os.path.join(data_dir, "..", os.path.basename(data_dir) + ".log"), "w")
        self.process = procs.start(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, *extra_args],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL, text=True,
            env={**os.environ, "TFREG_LOG": "warn", **(env or {})},
        )
        first = self.process.stdout.readline().strip()
        prefix = "tfreg listening on https://"
        if not first.startswith(prefix):
            raise RuntimeError(f"tfreg serve said {first!r}; see {self.log.name}")
        self.host = first[len(prefix):]
        # Drain the rest of stdout so that the server never blocks on a full pipe.
        subprocess.Popen(["cat"], stdin=self.process.stdout, stdout=subprocess.DEVNULL)
        self.ca = os.path.join(data_dir, "tls", "ca.pem")
        self.master = open(os.path.join(data_dir, "master-token")).read().strip()
        self.context = ssl.create_default_context(cafile=self.ca)

    def request(self, method: str, path: str, token: str, body: bytes | None = None):
        request = urllib.request.Request(
            f"https://{self.host}{path}", data=body, method=method,
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def upload(self, name: str, version: str, archive: str) -> None:
        status, body = self.request(
            "PUT", f"/v1/modules/{NAMESPACE}/{name}/{SYSTEM}/{version}", self.master,
            open(archive, "rb").read(),
        )
        if status != 201:
            raise RuntimeError(f"upload of {name} {version}: {status} {body[:200]!r}")

    def downloader_token(self) -> str:
        status, body = self.request(
            "POST", "/v1/tokens", self.master,
            json.dumps({"name": "bench", "permission": "downloader"}).encode(),
        )
        if status != 201:
            raise RuntimeError(f"creating a token: {status} {body[:200]!r}")
        return json.loads(body)["token_value"]


# ---------------------------------------------------------------------------------------------
# Measurements


def terraform_env(work: str, cli_config: str, bundle: str) -> dict:
    empty = os.path.join(work, "empty-cert-dir")
    os.makedirs(empty, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(
        TF_CLI_CONFIG_FILE=cli_config, SSL_CERT_FILE=bundle, SSL_CERT_DIR=empty,
        CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1",
    )
    return env


def terraform_init(terraform: str, directory: str, env: dict) -> float:
    for leftover in (".terraform", ".terraform.lock.hcl"):
        path = os.path.join(directory, leftover)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    started = time.perf_counter()
    result = subprocess.run(
        [terraform, "init", "-input=false", "-no-color", "-backend=false"],
        cwd=directory, env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"terraform init in {directory} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(url: str, token: str, connections: int, seconds: float) -> dict:
    threads = 1 if connections == 1 else 2
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         # As Terraform sends them (Go's net/http asks for gzip by itself).
         "-H", f"Authorization: Bearer {token}", "-H", "Accept-Encoding: gzip", url],
        capture_output=True, text=True, check=True,
    )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    latency = {p: float(v) * scale[u] for p, v, u in WRK_LATENCY.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps, "p50": latency.get("50"), "p99": latency.get("99"),
        "errors": (int(errors.group(1)) if errors else 0),
        "socket_errors": socket_errors.group(0) if socket_errors else "",
    }


def fmt_ms(value) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f} µs"
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (`nproc`), {cpu}, {memory} RAM, {platform.system()} {platform.release()}"


def versions_scaling(procs: Processes, binary: str, work: str, archive: str, seconds: float,
                     uploads: int, counts: list[int], others: int,
                     rounds: int = 1) -> tuple[list[list[str]], list[list[str]]]:
    """Versions p50 against version count (`counts`, which must include 1000), and upload
    latency with 0 and `others` other modules, on the embedded backend. The data directory is
    filled in its on-disk layout directly (what FileArchiveStore reads), not through thousands
    of HTTP uploads."""
    data = os.path.join(work, "tfreg-scaling")
    tfreg = Tfreg(procs, binary, data)
    token = tfreg.downloader_token()
    tfreg.upload("seed", "1.0.0", archive)  # one real upload: its meta.json is the template
    seed_dir = os.path.join(data, "modules", NAMESPACE, "seed", SYSTEM, "1.0.0")
    seed_archive = os.path.join(seed_dir, "module.tar.gz")
    meta = open(os.path.join(seed_dir, "meta.json")).read()

    def place(namespace: str, name: str, version: str) -> None:
        directory = os.path.join(data, "modules", namespace, name, SYSTEM, version)
        os.makedirs(directory)
        os.link(seed_archive, os.path.join(directory, "module.tar.gz"))
        with open(os.path.join(directory, "meta.json"), "w") as f:
            f.write(meta)

    for count in counts:
        for i in range(count):
            place(NAMESPACE, f"s{count}", f"1.{i // 100}.{i % 100}")
    # Check that the server sees what was placed, and that the download of one works.
    status, body = tfreg.request("GET", f"/v1/modules/{NAMESPACE}/s1000/{SYSTEM}/versions", token)
    listed = len(json.loads(body)["modules"][0]["versions"])
    if status != 200 or listed != 1000:
        raise RuntimeError(f"placed 1000 versions, server lists {listed} ({status})")
    status, _ = tfreg.request("GET", f"/v1/modules/{NAMESPACE}/s1000/{SYSTEM}/1.9.99/download", token)
    if status != 204:
        raise RuntimeError(f"download of a placed version: {status}")

    def versions_p50(count: int) -> dict:
        return wrk(f"https://{tfreg.host}/v1/modules/{NAMESPACE}/s{count}/{SYSTEM}/versions", token, 1, seconds)

    def upload_latencies(tag: str) -> list[float]:
        body = open(archive, "rb").read()
        times = []
        for i in range(uploads):
            started = time.perf_counter()
            status, answer = tfreg.request("PUT", f"/v1/modules/{NAMESPACE}/up-{tag}-{i}/{SYSTEM}/1.0.0", tfreg.master, body)
            times.append((time.perf_counter() - started) * 1000)
            if status != 201:
                raise RuntimeError(f"upload: {status} {answer[:200]!r}")
        return times

    # With rounds > 1 the counts are measured in turn, round after round, and each figure is
    # the median of its rounds: a 1-connection p50 here moves between two levels (about 25 and
    # 55 µs) from one wrk run to the next, as the scheduler places the two ends on the cores.
    runs: dict = {}
    for _ in range(rounds):
        for count in counts:
            runs.setdefault(count, []).append(versions_p50(count))
    before = {count: {k: statistics.median(r[k] for r in results) for k in ("p50", "p99", "rps")}
              for count, results in runs.items()}
    if not others:  # versions only (--only scaling)
        procs.stop(tfreg.process)
        return scaling_rows(before, counts), []
    upload_before = upload_latencies("before")
    log(f"placing {others:,} other modules in the data directory")
    for i in range(others):
        place("bulk", f"m{i:05d}", "1.0.0")
    after = versions_p50(100)
    upload_after = upload_latencies("after")
    procs.stop(tfreg.process)

    rows = scaling_rows(before, counts)
    rows.append([f"100, with {others:,} other modules stored", fmt_ms(after["p50"]), fmt_ms(after["p99"]),
                 f"{after['rps']:,.0f}", f"{after['p50'] / before[10]['p50']:.1f}x", ""])
    upload_rows = [
        ["1 module stored", f"{statistics.median(upload_before):.2f} ms", f"{max(upload_before):.2f} ms"],
        [f"{others:,} modules stored", f"{statistics.median(upload_after):.2f} ms", f"{max(upload_after):.2f} ms"],
    ]
    return rows, upload_rows


def scaling_rows(before: dict, counts: list[int]) -> list[list[str]]:
    rows = []
    previous = None
    for count in counts:
        r = before[count]
        # The cost of each version added since the row before: constant if growth is linear.
        marginal = "" if previous is None else (
            f"{(r['p50'] - before[previous]['p50']) * 1000 / (count - previous):.2f} µs")
        rows.append([f"{count:,}", fmt_ms(r["p50"]), fmt_ms(r["p99"]), f"{r['rps']:,.0f}",
                     f"{r['p50'] / before[10]['p50']:.1f}x", marginal])
        previous = count
    return rows


def measure_load(targets: dict, endpoints: dict, seconds: float, rounds: int = 1) -> tuple[dict, list]:
    """wrk at 1 and 64 connections on each endpoint of each target ({label: (base URL, token)}),
    the targets interleaved cell by cell; with `rounds` > 1 the whole grid is repeated and each
    figure is the median of its rounds. Returns {(endpoint, connections, label): result}, rows."""
    log(f"load: wrk, {seconds}s per cell, {rounds} round(s)")
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    for base, token in targets.values():  # the first request of each pays for set-up
        for path in endpoints.values():
            for _ in range(3):
                request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
                urllib.request.urlopen(request, context=insecure, timeout=30).read()
    runs: dict = {}
    for _ in range(rounds):
        for endpoint_name, path in endpoints.items():
            for connections in (1, 64):
                for label, (base, token) in targets.items():
                    # The peer answers tens per second: give it time for a few hundred samples.
                    cell = max(seconds, 4) if label.startswith("peer") else seconds
                    result = wrk(base + path, token, connections, cell)
                    log(f"{endpoint_name} c{connections} {label}: {result}")
                    runs.setdefault((endpoint_name, connections, label), []).append(result)
    load, rows = {}, []
    for key, results in runs.items():
        r = {k: statistics.median(x[k] for x in results) if results[0][k] is not None else None
             for k in ("rps", "p50", "p99")}
        r["errors"] = sum(x["errors"] for x in results)
        load[key] = r
        bad = f" ({r['errors']} non-2xx)" if r["errors"] else ""
        spread = "" if rounds == 1 else f" ({min(x['rps'] for x in results):,.0f}–{max(x['rps'] for x in results):,.0f})"
        rows.append([*key, f"{r['rps']:,.0f}{spread}{bad}", fmt_ms(r["p50"]), fmt_ms(r["p99"])])
    return load, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tfreg-binary", required=True, help="the `tfreg` binary to measure")
    parser.add_argument("--build", choices=("release", "debug"), default="release",
                        help="how that binary was built; a debug build's numbers are not judged")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-peer", default="")
    parser.add_argument("--only", choices=("throughput", "scaling", "providers"),
                        help="one part alone (only.py; providers.py), written to --out")
    parser.add_argument("--baseline-binary", help="with --only: another tfreg build measured beside it")
    parser.add_argument("--baseline-label", default="baseline")
    parser.add_argument("--profile", action="store_true", help="with --only throughput: perf profiles")
    args = parser.parse_args()
    if args.only == "providers":
        import providers
        providers.run(args)
        return
    if args.only:
        import only
        only.run(args)
        return
    root = args.root
    quick = args.quick
    init_runs = 3 if quick else 11
    load_seconds = 1 if quick else 8
    scale_seconds = 1 if quick else 3
    uploads = 5 if quick else 20
    # Placing and then deleting tens of thousands of directories costs minutes on a busy disk;
    # the quick run keeps the same steps at a tenth of the size.
    version_counts = [10, 100, 1000] if quick else [10, 100, 1000, 5000]
    other_modules = 1_000 if quick else 10_000

    terraform = os.path.join(root, ".venv/bin/terraform")
    moto_server = os.path.join(root, ".venv/bin/moto_server")
    peer_python = os.path.join(root, ".venv/peer/bin/python")
    tfreg_binary = os.path.abspath(args.tfreg_binary)

    def verdict(met: bool) -> str:
        """Whether a target was met; an unoptimised build says nothing about that."""
        if args.build != "release":
            return f"not judged: {args.build} build"
        return "met" if met else "MISSED"
    here = os.path.dirname(os.path.abspath(__file__))

    procs = Processes()
    work = tempfile.mkdtemp(prefix="tfreg-bench-")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    sections = []
    notes = []
    try:
        log(f"work directory {work}")
        modules = make_modules(work)
        big = os.path.getsize(modules[BIG_MODULE]["archive"]) / 1e6

        # --- servers ---------------------------------------------------------------------
        moto_port = free_port()
        moto = procs.start([moto_server, "-H", "127.0.0.1", "-p", str(moto_port)],
                           stdout=open(os.path.join(work, "moto.log"), "w"), stderr=subprocess.STDOUT)
        wait_port(moto_port, process=moto)
        endpoint = f"http://127.0.0.1:{moto_port}"
        aws_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(k, None)
        os.environ.update(aws_env)

        log("tfreg serve (embedded)")
        embedded = Tfreg(procs, tfreg_binary, os.path.join(work, "tfreg-embedded"))
        for name, module in modules.items():
            embedded.upload(name, VERSION, module["archive"])
        embedded_token = embedded.downloader_token()

        log("tfreg serve --backend aws (moto)")
        import boto3  # from the project venv (moto's dependency)

        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="tfreg-bench")
        boto3.client("dynamodb", endpoint_url=endpoint).create_table(
            TableName="tfreg-bench-tokens",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        aws = Tfreg(procs, tfreg_binary, os.path.join(work, "tfreg-aws"), [
            "--backend", "aws", "--s3-bucket", "tfreg-bench", "--dynamodb-table", "tfreg-bench-tokens",
            "--region", "us-east-1", "--endpoint-url", endpoint,
        ], env=aws_env)
        for name, module in modules.items():
            aws.upload(name, VERSION, module["archive"])
        aws_token = aws.downloader_token()

        peer_reason = args.skip_peer
        peer_token = None
        uvicorn_port = free_port()
        if not peer_reason:
            log("peer: lambda-terraform-module-registry 0.2.5 with uvicorn on moto")
            listing = os.path.join(work, "peer-modules.json")
            json.dump([{"name": n, "version": VERSION, "archive": m["archive"]} for n, m in modules.items()],
                      open(listing, "w"))
            peer_env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "TABLE": "peer-registry",
                        "BUCKET": "peer-archives", "PYTHONPATH": here, "PYTHONWARNINGS": "ignore"}
            setup = subprocess.run([peer_python, os.path.join(here, "peer_setup.py"), listing],
                                   env=peer_env, capture_output=True, text=True)
            if setup.returncode != 0:
                peer_reason = f"peer set-up failed: {setup.stderr.strip().splitlines()[-1:]}"
            else:
                peer_token = setup.stdout.strip().splitlines()[-1]
                peer = procs.start(
                    [peer_python, "-m", "uvicorn", "--app-dir", here, "peer_app:APP", "--host", "127.0.0.1",
                     "--port", str(uvicorn_port), "--log-level", "warning", "--no-access-log"],
                    env=peer_env, stdout=open(os.path.join(work, "peer.log"), "w"), stderr=subprocess.STDOUT,
                )
                try:
                    wait_port(uvicorn_port, process=peer)
                except RuntimeError as error:
                    peer_reason = f"uvicorn did not start: {error}"
        if peer_reason:
            log(f"skipping the peer: {peer_reason}")

        log("nginx: the static floor and the peer's TLS front")
        ca, cert, key = make_ecdsa_ca_and_cert(os.path.join(work, "tls"))
        floor_port = free_port()
        front_port = free_port() if not peer_reason else None
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_config(work, cert, key, floor_port, floor_root(work, modules), modules,
                                 front_port, uvicorn_port))
        nginx = procs.start(["nginx", "-c", conf, "-p", work],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "nginx.log"), "w"))
        wait_port(floor_port, process=nginx)
        if front_port:
            wait_port(front_port, process=nginx)

        # --- terraform init ----------------------------------------------------------------
        bundle = os.path.join(work, "ca-bundle.pem")
        with open(bundle, "w") as f:
            for pem in (ca, embedded.ca, aws.ca):
                f.write(open(pem).read())
        hosts = {
            "floor": (f"127.0.0.1:{floor_port}", "none (static files)"),
            "tfreg serve (embedded)": (embedded.host, embedded_token),
            "tfreg serve --backend aws (moto)": (aws.host, aws_token),
        }
        if not peer_reason:
            hosts["peer (uvicorn on moto, nginx TLS front)"] = (f"127.0.0.1:{front_port}", peer_token)
        cli_config = os.path.join(work, "terraformrc")
        with open(cli_config, "w") as f:
            for host, token in hosts.values():
                f.write(f'credentials "{host}" {{\n  token = "{token}"\n}}\n')
        env = terraform_env(work, cli_config, bundle)

        roots = {"local paths": os.path.join(work, "root-local")}
        local_modules = os.path.join(roots["local paths"], "modules")
        shutil.copytree(os.path.join(work, "modules"), local_modules)
        write_root(roots["local paths"], {n: (f"./modules/{n}", None) for n in modules})
        for label, (host, _) in hosts.items():
            directory = os.path.join(work, "root-" + re.sub(r"[^a-z]+", "-", label.lower()).strip("-"))
            write_root(directory, {n: (f"{host}/{NAMESPACE}/{n}/{SYSTEM}", VERSION) for n in modules})
            roots[label] = directory

        log(f"terraform init: {init_runs} interleaved runs of {len(roots)} variants")
        timings = {label: [] for label in roots}
        for label, directory in roots.items():  # a warm-up of each, not counted
            terraform_init(terraform, directory, env)
        order = list(roots)
        for i in range(init_runs):
            rotated = order[i % len(order):] + order[:i % len(order)]
            for label in rotated:
                timings[label].append(terraform_init(terraform, roots[label], env))
        medians = {label: statistics.median(t) for label, t in timings.items()}
        floor_median = medians["floor"]
        local_median = medians["local paths"]
        rows = []
        for label in roots:
            t = timings[label]
            rows.append([label, f"{medians[label]:.3f} s", f"{min(t):.3f}–{max(t):.3f} s",
                         f"{medians[label] / floor_median:.2f}x", f"{medians[label] / local_median:.2f}x"])
        sections.append((
            f"terraform init (Terraform 1.0.3, 20 modules, one of {big:.1f} MB gzipped; "
            f"median of {init_runs} interleaved runs, fresh .terraform each)",
            table(["source", "median", "range", "vs floor", "vs local paths"], rows),
        ))
        tfreg_ratio = medians["tfreg serve (embedded)"] / floor_median
        notes.append(
            f"terraform init through `tfreg serve` (embedded): {tfreg_ratio:.2f}x the floor "
            f"(target ≤ 1.05x: {verdict(tfreg_ratio <= 1.05)})."
        )

        # --- load ------------------------------------------------------------------------
        targets = {
            "tfreg serve (embedded)": (f"https://{embedded.host}", embedded_token),
            "floor (nginx, static)": (f"https://127.0.0.1:{floor_port}", embedded_token),
        }
        if not peer_reason:
            targets["peer (uvicorn + nginx TLS)"] = (f"https://127.0.0.1:{front_port}", peer_token)
        endpoints = {
            "versions": f"/v1/modules/{NAMESPACE}/m01/{SYSTEM}/versions",
            "download": f"/v1/modules/{NAMESPACE}/m01/{SYSTEM}/{VERSION}/download",
        }
        load, rows = measure_load(targets, endpoints, load_seconds)
        sections.append((
            f"Hot endpoints under load (wrk over loopback, authenticated, {load_seconds} s per cell; "
            "wrk shares the 2 cores with the server)",
            table(["endpoint", "connections", "server", "req/s", "p50", "p99"], rows),
        ))
        for endpoint_name in endpoints:
            for connections in (1, 64):
                ours = load[(endpoint_name, connections, "tfreg serve (embedded)")]
                floor = load[(endpoint_name, connections, "floor (nginx, static)")]
                if not peer_reason:
                    peer = load[(endpoint_name, connections, "peer (uvicorn + nginx TLS)")]
                    ratio = ours["rps"] / peer["rps"] if peer["rps"] else float("inf")
                    lower = peer["p99"] is None or ours["p99"] < peer["p99"]
                    notes.append(
                        f"{endpoint_name}, {connections} connection(s): {ratio:.0f}x the peer's req/s, p99 "
                        f"{fmt_ms(ours['p99'])} vs {fmt_ms(peer['p99'])} (target ≥ 5x with lower p99: "
                        f"{verdict(ratio >= 5 and lower)})."
                    )
                if endpoint_name == "versions" and connections == 1:
                    gap = ours["p50"] - floor["p50"]
                    notes.append(
                        f"versions p50 at 1 connection: {fmt_ms(ours['p50'])} vs the floor's {fmt_ms(floor['p50'])}, "
                        f"{gap * 1000:+.0f} µs (target ≤ +100 µs: {verdict(gap <= 0.1)})."
                    )

        procs.stop_all()

        # --- scaling -----------------------------------------------------------------------
        log(f"scaling: versions against version count; uploads with {other_modules:,} modules stored")
        scale_rows, upload_rows = versions_scaling(procs, tfreg_binary, work, modules["m01"]["archive"],
                                                   scale_seconds, uploads, version_counts, other_modules)
        sections.append((
            f"Scaling, embedded backend (versions: wrk, 1 connection, {scale_seconds} s each)",
            table(["versions of the module", "p50", "p99", "req/s", "p50 vs 10 versions",
                   "p50 added per added version"], scale_rows),
        ))
        sections.append((
            f"Upload latency (PUT of a small archive, {uploads} uploads each, sequential, new connection each)",
            table(["other modules stored", "median", "max"], upload_rows),
        ))
        if peer_reason:
            notes.append(f"The peer was not measured: {peer_reason}")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)

    with open(args.out, "w") as f:
        for title, body in sections:
            f.write(f"### {title}\n\n{body}\n\n")
        f.write("### Against the targets\n\n" + "".join(f"- {n}\n" for n in notes) + "\n")
    for title, body in sections:
        print(f"\n{title}\n{body}")
    print("\n" + "\n".join(notes))
    print(f"\nMachine: {machine_description()}.")


if __name__ == "__main__":
    main()
