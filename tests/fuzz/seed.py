#!/usr/bin/env python3
"""Writes the seed corpora (tests/fuzz/seeds/<target>/) the fuzz targets start from.

The archives have the shapes of tfreg-testkit's ArchiveBuilder cases (tests of
origin/src/archive): plain modules, a wrapped top folder, a forge tarball with modules/sub,
hostile entries (symlink, hard link, fifo, `..`, absolute path, duplicate, PAX and GNU long
names). The events are tests/fixtures/function-url/*.json and the documented CloudFront
example. Deterministic (fixed mtimes), so running it again rewrites the same bytes.
Usage: python3 tests/fuzz/seed.py
"""
import io
import json
import os
import shutil
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEEDS = os.path.join(HERE, "seeds")
# The archive targets read their first byte as the subdirectory selection (tfreg_fuzz::SELECTIONS).
NO_SELECTION, STAR, STAR_MODULES_SUB = b"\x00", b"\x02", b"\x03"
MAIN_TF = b'variable "name" {\n  type = string\n}\n'


def tar(entries, fmt=tarfile.GNU_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(data))
            else:
                if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = data.decode()
                info.mode = 0o755
                archive.addfile(info)
        end = archive.offset
    # The two zero blocks that end a tar, without tarfile's padding to 10 KiB: small seeds
    # keep the fuzzer fast.
    return out.getvalue()[: end + 1024]


def tar_gz(entries, **kw):
    import gzip
    return gzip.compress(tar(entries, **kw), mtime=0)


def zip_archive(files, dirs=()):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in dirs:
            archive.writestr(zipfile.ZipInfo(name, (2023, 11, 14, 22, 13, 20)), b"")
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, (2023, 11, 14, 22, 13, 20)), data)
    return out.getvalue()


F, D, SYM, HARD, FIFO = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE
TAR_CASES = {
    "module": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("README.md", F, b"# vpc\n")]),
    "wrapped": (NO_SELECTION, [("vpc-1.2.0/", D, b""), ("vpc-1.2.0/main.tf", F, MAIN_TF),
                               ("vpc-1.2.0/modules/", D, b""), ("vpc-1.2.0/modules/x.tf", F, b"")]),
    "forge": (STAR_MODULES_SUB, [("repo-abc/", D, b""), ("repo-abc/main.tf", F, MAIN_TF),
                                 ("repo-abc/modules/sub/", D, b""), ("repo-abc/modules/sub/main.tf", F, MAIN_TF),
                                 ("repo-abc/examples/link", SYM, b"../main.tf")]),
    "forge_star": (STAR, [("repo-abc/", D, b""), ("repo-abc/main.tf", F, MAIN_TF)]),
    "symlink": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("evil", SYM, b"/etc/passwd")]),
    "hardlink": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("evil", HARD, b"main.tf")]),
    "fifo": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("pipe", FIFO, b"")]),
    "dotdot": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("../escape.tf", F, b"x")]),
    "absolute": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("/etc/cron.d/x", F, b"x")]),
    "duplicate": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("./main.tf", F, b"again")]),
    "long_name": (NO_SELECTION, [("main.tf", F, MAIN_TF), ("d/" * 60 + "deep.tf", F, b"")]),
}


def write(target, name, data):
    folder = os.path.join(SEEDS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    for name, (select, entries) in TAR_CASES.items():
        write("archive_tar_gz", name, select + tar(entries))
        write("archive_raw", name + ".tar.gz", select + tar_gz(entries))
    write("archive_tar_gz", "pax", NO_SELECTION + tar(
        [("main.tf", F, MAIN_TF), ("p" * 120 + ".tf", F, b"")], fmt=tarfile.PAX_FORMAT))
    write("archive_raw", "module.zip", NO_SELECTION + zip_archive([("main.tf", MAIN_TF), ("README.md", b"# x\n")]))
    write("archive_raw", "wrapped.zip", NO_SELECTION + zip_archive(
        [("vpc-1.2.0/main.tf", MAIN_TF)], dirs=["vpc-1.2.0/"]))
    write("archive_raw", "forge.zip", STAR_MODULES_SUB + zip_archive(
        [("repo-abc/main.tf", MAIN_TF), ("repo-abc/modules/sub/main.tf", MAIN_TF)]))
    write("archive_raw", "dotdot.zip", NO_SELECTION + zip_archive([("main.tf", MAIN_TF), ("../x.tf", b"")]))
    # Found by archive_raw: a drive in the middle of a name, first once the top folder goes.
    write("archive_raw", "drive_inside.zip", NO_SELECTION + zip_archive(
        [("repo-abc/main.tf", MAIN_TF), ("repo-abc/m:odules/main.tf", MAIN_TF)]))
    # The inputs of crashes found, as the fuzzer wrote them (tests/fuzz/regressions/<target>/):
    # every run, CI's quick one included, starts by running them again.
    regressions = os.path.join(HERE, "regressions")
    for target in sorted(os.listdir(regressions)):
        for name in sorted(os.listdir(os.path.join(regressions, target))):
            with open(os.path.join(regressions, target, name), "rb") as f:
                write(target, "regression-" + name, f.read())

    names = {
        "plain": "acme\nvpc\naws\n1.2.0\n1.10.0-rc.1+build.5",
        "v_prefix": "hashicorp\nconsul\nazurerm\nv0.0.1\n0.0.1",
        "key": "acme/vpc/aws/1.2.0/module.tar.gz",
        "key_prerelease": "acme/vpc/aws/1.0.0-rc.1/module.tar.gz",
    }
    for name, text in names.items():
        write("names", name, text.encode())

    # Arbitrary-derived targets take their strings from raw bytes; plausible text is enough.
    for name, text in {
        "versions": "GET\0/v1/modules/acme/vpc/aws/versions",
        "upload": "PUT\0/v1/modules/acme/vpc/aws/1.2.0",
        "tokens": "DELETE\0/v1/tokens/ci",
        "archive": "GET\0/archives/acme/vpc/aws/1.2.0/module.tar.gz",
        "auth": "POST\0/v1/auth/oidc",
        "mirror_package": "GET\0/v1/mirror/registry.terraform.io/hashicorp/aws/5.0.0/linux_amd64.zip",
        "mirror_prefetch": "POST\0/v1/mirror/registry.terraform.io/hashicorp/aws/5.0.0",
    }.items():
        write("route", name, text.encode())
    write("token_and_signature", "bearer",
          b"Bearer tfr_0123456789abcdef\0/archives/acme/vpc/aws/1.2.0/module.tar.gz\0Expires=99&Key-Pair-Id=KFUZZ&Signature=AAAA\0")

    for name in sorted(os.listdir(os.path.join(ROOT, "tests/fixtures/function-url"))):
        with open(os.path.join(ROOT, "tests/fixtures/function-url", name), "rb") as f:
            write("function_url_event", name, f.read())
    write("function_url_event", "identity", b"token=ci%20read;tier=uploader;scopes=acme/,corp/net")

    def event(method, uri, query="", headers=()):
        hs = {"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}]}
        for key, value in headers:
            hs[key.lower()] = [{"key": key, "value": value}]
        return json.dumps({"Records": [{"cf": {
            "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                       "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request",
                       "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
            "request": {"clientIp": "203.0.113.178", "method": method, "querystring": query,
                        "uri": uri, "headers": hs}}}]}, indent=1).encode()
    token = ("Authorization", "Bearer tfr_0123456789abcdef")
    for answer, name, data in [
        (1, "versions", event("GET", "/v1/modules/acme/vpc/aws/versions", headers=[token])),
        (2, "upload", event("PUT", "/v1/modules/acme/vpc/aws/1.2.0",
                            headers=[token, ("Content-Length", "10"), ("X-Tfreg-Identity", "token=x;tier=master")])),
        (3, "tokens", event("POST", "/v1/tokens", headers=[token])),
        (0, "archive", event("GET", "/archives/acme/vpc/aws/1.2.0/module.tar.gz", "expires=99&signature=AAAA")),
        (0, "discovery", event("GET", "/.well-known/terraform.json")),
        (0, "home", event("GET", "/")),
    ]:
        write("viewer_request", name, bytes([answer]) + data)

    for name, text in {
        "git": "git::https://github.com/terraform-aws-modules/terraform-aws-vpc?ref=v5.1.0",
        "github_detector": "github.com/acme/vpc//modules/sub?ref=main",
        "archive": "https://github.com/acme/vpc/archive/v1.tar.gz//*?archive=tar.gz",
        "relative": "./archive.tar.gz?archive=tar.gz&checksum=sha256:" + "ab" * 32,
        "upstream": "https://registry.terraform.io/archives/a/b/c/1.0.0.zip//modules/x",
        "s3": "s3::https://s3.amazonaws.com/bucket/module.zip",
        # Found by this target: a partial wildcard in the subdirectory (see source.rs tests).
        "partial_wildcard": "https://registry.terraform.io/a.tar.gz//x/a[b",
        "credentials": "https://user:pass@codeload.github.com/acme/vpc/tar.gz/v1?X-Amz-Signature=abc",
    }.items():
        write("upstream_source", name, text.encode())

    # api_bodies: an even first byte is a token creation body, an odd one a pin body.
    for name, pick, body in [
        ("token", 0, {"name": "ci", "permission": "uploader"}),
        ("token_full", 0, {"name": "CI deploy", "permission": "downloader", "description": "nightly",
                           "expires_at": "2027-01-31T00:00:00Z", "scopes": ["acme/", "acme/network"]}),
        ("token_past", 0, {"name": "old", "permission": "master", "expires_at": "2020-01-01T00:00:00+02:00"}),
        ("token_unknown_field", 0, {"name": "x", "permission": "uploader", "tier": "master"}),
        ("pin", 1, {"override_policy": True}),
        ("pin_empty", 1, {}),
    ]:
        write("api_bodies", name, bytes([pick]) + json.dumps(body).encode())
    write("api_bodies", "pin_blank", b"\x01 \n")

    # openpgp: gpg's keys and detached signatures (origin/src/providers/fixtures), armored and
    # binary.
    import base64
    fixtures = os.path.join(ROOT, "origin/src/providers/fixtures")
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".pem"):
            continue
        with open(os.path.join(fixtures, name), "rb") as f:
            data = f.read()
        write("openpgp", name, data)
        if name.endswith("-public.asc"):
            lines = data.decode().splitlines()
            body = "".join(l for l in lines[1:] if l and ":" not in l and not l.startswith(("=", "-")))
            write("openpgp", name + ".bin", base64.b64decode(body))


main()
