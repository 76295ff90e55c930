"""The provider mirror alone (`bash tests/bench/run.sh --only providers`): `terraform init` of a
configuration with three providers through a `network_mirror`, three ways, interleaved in rounds
(each figure the median of its rounds):

- the floor: nginx serving the same packages as a static network mirror (precomputed
  `index.json` and `{version}.json` with the `h1:` and `zh:` hashes, the zips beside them);
- `tfreg serve`, warm: the packages already kept (pre-mirrored with the POST, then one init);
- `tfreg serve`, cold: a fresh data directory, so every package is pulled through from the
  stand-in upstream (fetched, signature and hash checked, kept) during the init; one per round.

The stand-in upstream is a provider registry and release host in one Python `http.server` on
loopback, serving precomputed files: releases signed with an RSA key this bench makes with
`gpg`, laid out as tests/provider_mirror.rs lays them out. Each provider's zip holds a few MB of
random bytes as its executable, so that transfer and hashing count, as they do for real
providers (tens of MB each).
"""

import base64
import hashlib
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import zipfile

import bench as b

# No port: Terraform's mirror client cannot name one (README, "Mirroring public providers");
# tfreg maps it to the stand-in with --provider-mirror-upstream.
HOST = "registry.example.test"
NAMESPACE = "example"
TYPES = ("alpha", "beta", "gamma")
VERSION = "1.0.0"
PLATFORM = "linux_amd64"
EXECUTABLE_MB = 4
ROUNDS = 31


def run(args) -> None:
    procs = b.Processes()
    work = tempfile.mkdtemp(prefix="tfreg-bench-providers-")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    try:
        text = measure(args, procs, work)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


# ---------------------------------------------------------------------------------------------
# The releases and the stand-in upstream


def gpg_key(home: str) -> tuple[list[str], str, str]:
    """An RSA signing key in a throw-away GPG home (RSA: what every Terraform's OpenPGP reads).
    Returns (the gpg command for that home, the armored public key, the 64-bit key ID)."""
    os.makedirs(home, mode=0o700)
    gpg = ["gpg", "--homedir", home, "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback",
           "--passphrase", ""]
    subprocess.run(gpg + ["--quick-gen-key", "Bench Release <release@example.test>", "rsa2048",
                          "sign", "never"], check=True, capture_output=True)
    public = subprocess.run(gpg + ["--armor", "--export"], check=True, capture_output=True,
                            text=True).stdout
    listing = subprocess.run(gpg + ["--with-colons", "--list-keys"], check=True, capture_output=True,
                             text=True).stdout
    key_id = next(line.split(":")[4] for line in listing.splitlines() if line.startswith("pub:"))
    return gpg, public, key_id


def h1_of_zip(data: bytes) -> str:
    """Terraform's `h1:` hash of a package: Go's dirhash Hash1 over the zip's files (a line
    `sha256-hex  name` per file, sorted by name; the base64 SHA-256 of those lines)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        lines = "".join(f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}\n"
                        for name in sorted(archive.namelist()))
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def make_releases(work: str, upstream_root: str, upstream_url: str) -> dict:
    """Signed releases of the three providers under `upstream_root`, as the stand-in serves
    them: discovery, version lists and download answers (registry), zips, SHA256SUMS and its
    signature (release host). Returns {type: {"zip", "zip_name", "h1", "zh"}}."""
    gpg, public_key, key_id = gpg_key(os.path.join(work, "gpg"))
    rng = random.Random(20)
    os.makedirs(os.path.join(upstream_root, ".well-known"))
    with open(os.path.join(upstream_root, ".well-known", "terraform.json"), "w") as f:
        json.dump({"providers.v1": "/v1/providers/"}, f)
    os_name, arch = PLATFORM.split("_")
    releases = {}
    for provider_type in TYPES:
        prefix = f"terraform-provider-{provider_type}_{VERSION}"
        zip_name = f"{prefix}_{PLATFORM}.zip"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            entry = zipfile.ZipInfo(f"terraform-provider-{provider_type}_v{VERSION}", (2026, 1, 1, 0, 0, 0))
            entry.external_attr = 0o100755 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            # Random bytes do not compress: the zip is as big as the executable.
            archive.writestr(entry, rng.randbytes(EXECUTABLE_MB * 1024 * 1024))
        data = buffer.getvalue()
        files = os.path.join(upstream_root, "releases", provider_type, VERSION)
        os.makedirs(files)
        with open(os.path.join(files, zip_name), "wb") as f:
            f.write(data)
        sha256 = hashlib.sha256(data).hexdigest()
        with open(os.path.join(files, f"{prefix}_SHA256SUMS"), "w") as f:
            f.write(f"{sha256}  {zip_name}\n")
        subprocess.run(gpg + ["--detach-sign", "--output", os.path.join(files, f"{prefix}_SHA256SUMS.sig"),
                              os.path.join(files, f"{prefix}_SHA256SUMS")], check=True, capture_output=True)
        api = os.path.join(upstream_root, "v1", "providers", NAMESPACE, provider_type)
        os.makedirs(os.path.join(api, VERSION, "download", os_name))
        with open(os.path.join(api, "versions"), "w") as f:
            json.dump({"versions": [{"version": VERSION, "protocols": ["5.0"],
                                     "platforms": [{"os": os_name, "arch": arch}]}]}, f)
        file_url = f"{upstream_url}/releases/{provider_type}/{VERSION}"
        with open(os.path.join(api, VERSION, "download", os_name, arch), "w") as f:
            json.dump({
                "protocols": ["5.0"], "os": os_name, "arch": arch, "filename": zip_name,
                "download_url": f"{file_url}/{zip_name}",
                "shasums_url": f"{file_url}/{prefix}_SHA256SUMS",
                "shasums_signature_url": f"{file_url}/{prefix}_SHA256SUMS.sig",
                "shasum": sha256,
                "signing_keys": {"gpg_public_keys": [{"key_id": key_id, "ascii_armor": public_key}]},
            }, f)
        releases[provider_type] = {"zip": data, "zip_name": zip_name, "h1": h1_of_zip(data),
                                   "zh": f"zh:{sha256}"}
    return releases


def static_mirror(root: str, releases: dict) -> None:
    """The floor's files: the network mirror protocol as precomputed files, the zips beside
    their `{version}.json` (a relative URL)."""
    for provider_type, release in releases.items():
        directory = os.path.join(root, HOST, NAMESPACE, provider_type)
        os.makedirs(directory)
        with open(os.path.join(directory, "index.json"), "w") as f:
            json.dump({"versions": {VERSION: {}}}, f)
        with open(os.path.join(directory, f"{VERSION}.json"), "w") as f:
            json.dump({"archives": {PLATFORM: {"url": release["zip_name"],
                                               "hashes": [release["h1"], release["zh"]]}}}, f)
        with open(os.path.join(directory, release["zip_name"]), "wb") as f:
            f.write(release["zip"])


# ---------------------------------------------------------------------------------------------
# The measurement


def write_configuration(directory: str) -> None:
    os.makedirs(directory)
    with open(os.path.join(directory, "main.tf"), "w") as f:
        f.write("terraform {\n  required_providers {\n")
        for provider_type in TYPES:
            f.write(f'    {provider_type} = {{\n      source  = "{HOST}/{NAMESPACE}/{provider_type}"\n'
                    f'      version = "{VERSION}"\n    }}\n')
        f.write("  }\n}\n")


def mirror_config(path: str, url: str, host: str, token: str | None) -> str:
    """A CLI configuration installing every provider through the network mirror at `url`, with
    the credentials of its `host` (Terraform sends them to the mirror; tfreg wants a token)."""
    with open(path, "w") as f:
        if token:
            f.write(f'credentials "{host}" {{\n  token = "{token}"\n}}\n')
        f.write(f'provider_installation {{\n  network_mirror {{\n    url = "{url}"\n  }}\n}}\n')
    return path


def bundle_of(path: str, pems: list[str]) -> str:
    with open(path, "w") as f:
        for pem in pems:
            f.write(open(pem).read())
    return path


def installed_hashes(directory: str) -> set[str]:
    """The hashes the lock file records (to check every side served the same packages)."""
    text = open(os.path.join(directory, ".terraform.lock.hcl")).read()
    return {line.strip().strip(",").strip('"') for line in text.splitlines()
            if line.strip().startswith('"h1:') or line.strip().startswith('"zh:')}


def measure(args, procs, work: str) -> str:
    rounds = 3 if args.quick else ROUNDS
    terraform = os.path.join(args.root, ".venv/bin/terraform")
    binary = os.path.abspath(args.tfreg_binary)

    b.log("the stand-in upstream (python http.server) and three signed releases")
    upstream_root = os.path.join(work, "upstream")
    os.makedirs(upstream_root)
    upstream_port = b.free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    releases = make_releases(work, upstream_root, upstream_url)
    upstream = procs.start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                            upstream_root, str(upstream_port)],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "upstream.log"), "w"))
    b.wait_port(upstream_port, process=upstream)
    mirror_args = ["--provider-mirror-upstream", f"{HOST}={upstream_url}",
                   "--provider-mirror-download-hosts", upstream_url]

    b.log("the floor: nginx serving a static network mirror")
    floor_files = os.path.join(work, "floor")
    static_mirror(floor_files, releases)
    ca, cert, key = b.make_ecdsa_ca_and_cert(os.path.join(work, "tls"))
    floor_port = b.free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(b.nginx_config(work, cert, key, floor_port, floor_files, {}, None, None))
    nginx = procs.start(["nginx", "-c", conf, "-p", work], stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(work, "nginx.log"), "w"))
    b.wait_port(floor_port, process=nginx)

    b.log("tfreg serve, warm: pre-mirrored with the POST")
    warm = b.Tfreg(procs, binary, os.path.join(work, "tfreg-warm"), mirror_args)
    for provider_type in TYPES:
        status, body = warm.request("POST", f"/v1/mirror/{HOST}/{NAMESPACE}/{provider_type}/{VERSION}",
                                    warm.master, json.dumps({"platforms": [PLATFORM]}).encode())
        if status not in (200, 201):
            raise RuntimeError(f"pre-mirroring {provider_type}: {status} {body[:300]!r}")
    warm_token = warm.downloader_token()
    # The floor serves what the mirror serves: the same hashes, in the same order.
    for provider_type, release in releases.items():
        status, body = warm.request("GET", f"/v1/mirror/{HOST}/{NAMESPACE}/{provider_type}/{VERSION}.json",
                                    warm_token)
        served = json.loads(body)["archives"][PLATFORM]["hashes"] if status == 200 else body
        if served != [release["h1"], release["zh"]]:
            raise RuntimeError(f"{provider_type}: tfreg serves {served!r}, the floor "
                               f"{[release['h1'], release['zh']]!r}")

    configuration = {}
    for label in ("floor", "warm", "cold"):
        configuration[label] = os.path.join(work, f"config-{label}")
        write_configuration(configuration[label])
    floor_host = f"127.0.0.1:{floor_port}"
    envs = {
        "floor": b.terraform_env(work, mirror_config(os.path.join(work, "floor.tfrc"),
                                                     f"https://{floor_host}/", floor_host, None),
                                 bundle_of(os.path.join(work, "floor-ca.pem"), [ca])),
        "warm": b.terraform_env(work, mirror_config(os.path.join(work, "warm.tfrc"),
                                                    f"https://{warm.host}/v1/mirror/", warm.host, warm_token),
                                bundle_of(os.path.join(work, "warm-ca.pem"), [warm.ca])),
    }

    def cold_init(round_number: int) -> float:
        """A tfreg serve on a fresh data directory (started and given a token before the clock
        starts), one init through it, stopped."""
        cold = b.Tfreg(procs, binary, os.path.join(work, f"tfreg-cold-{round_number}"), mirror_args)
        token = cold.downloader_token()
        env = b.terraform_env(work, mirror_config(os.path.join(work, f"cold-{round_number}.tfrc"),
                                                  f"https://{cold.host}/v1/mirror/", cold.host, token),
                              bundle_of(os.path.join(work, f"cold-{round_number}-ca.pem"), [cold.ca]))
        try:
            return b.terraform_init(terraform, configuration["cold"], env)
        finally:
            procs.stop(cold.process)
            shutil.rmtree(cold.data_dir, ignore_errors=True)

    def init(label: str, round_number: int) -> float:
        if label == "cold":
            return cold_init(round_number)
        return b.terraform_init(terraform, configuration[label], envs[label])

    b.log("a warm-up init of each, not counted")
    upstream_log = os.path.join(work, "upstream.log")
    locked = {}
    for label in ("floor", "warm", "cold"):
        before = len(open(upstream_log).readlines())
        init(label, -1)
        cold_upstream_requests = len(open(upstream_log).readlines()) - before
        locked[label] = installed_hashes(configuration[label])
    if len({frozenset(hashes) for hashes in locked.values()}) != 1:
        raise RuntimeError(f"the lock files differ: {locked}")

    # What a warm init asks the upstream (the stand-in logs a line per request).
    before = len(open(upstream_log).readlines())
    init("warm", -1)
    warm_upstream_requests = len(open(upstream_log).readlines()) - before

    b.log(f"terraform init: {rounds} interleaved rounds of floor, warm and cold")
    labels = ["floor", "warm", "cold"]
    timings = {label: [] for label in labels}
    for i in range(rounds):
        for label in labels[i % 3:] + labels[:i % 3]:
            timings[label].append(init(label, i))
            b.log(f"round {i + 1} {label}: {timings[label][-1]:.3f} s")

    names = {
        "floor": "floor (nginx, static mirror)",
        "warm": "tfreg serve, warm (packages kept)",
        "cold": "tfreg serve, cold (pull-through, fresh data directory)",
    }
    medians = {label: statistics.median(t) for label, t in timings.items()}
    rows = [[names[label], f"{medians[label]:.3f} s", f"{min(t):.3f}–{max(t):.3f} s",
             f"{medians[label] / medians['floor']:.2f}x"] for label, t in timings.items()]
    size = sum(len(r["zip"]) for r in releases.values()) / 1e6
    out = [
        f"### terraform init through a network mirror (Terraform "
        f"{subprocess.run([terraform, 'version'], capture_output=True, text=True).stdout.split()[1]}, "
        f"three providers `{HOST}/{NAMESPACE}/{{{','.join(TYPES)}}}` {VERSION} {PLATFORM}, "
        f"{size:.1f} MB of zips in all; median of {rounds} interleaved rounds, a fresh `.terraform` and "
        "lock file each, no plugin cache)", "",
        b.table(["mirror", "median", "range", "vs floor"], rows), "",
        "- Checked before timing: tfreg's `{version}.json` names the floor's hashes (`h1:`, `zh:`), and",
        "  the lock files of the three warm-up inits record the same hashes.",
        "- Warm: the packages pre-mirrored with `POST /v1/mirror/…` and two inits before timing; the",
        "  upstream's version lists are reused for `--proxy-versions-ttl` (its default); an init after",
        f"  the warm-up asked the stand-in {warm_upstream_requests} request(s).",
        "- Cold: a new `tfreg serve` on an empty data directory each round (started, and its token",
        "  made, before the clock starts); the init makes it fetch discovery, the version list, the",
        "  download answer, `SHA256SUMS`, its signature and the zip from the stand-in (Python's",
        "  `http.server` on loopback, one thread per connection), check them and keep the package",
        f"  ({cold_upstream_requests} requests to the stand-in in the untimed cold init).",
        "",
    ]
    return "\n".join(out) + "\n"
