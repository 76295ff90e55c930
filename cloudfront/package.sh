#!/usr/bin/env bash
# Builds the deployable artifacts into dist/ (git-ignored):
#   dist/origin.zip   the origin Lambda: `bootstrap` (tfreg-origin) for provided.al2023 on x86_64
#   dist/edge-bundle/ the viewer-request Lambda@Edge bundle without its settings: index.mjs (the
#                     Node.js handler), edge.wasm (the WebAssembly core), config.template.json;
#                     the Terraform module renders config.json and zips the three at deploy time
#   dist/edge.zip     the same bundle with config.json baked in, when TFREG_EDGE_* settings are given
#
# The origin binary is linked by cargo-lambda with zig against an old glibc (it needs at most
# GLIBC_2.30; checked below), so it runs on Amazon Linux 2023 (glibc 2.34); glibc rather than a static
# musl build because musl's allocator is markedly slower for a multi-threaded async server,
# and zig makes the old-glibc link a one-liner. It is built with the `lambda` profile (Cargo.toml:
# opt-level "z", fat LTO, one codegen unit), which keeps the zip under 6 MB. cargo-lambda and zig
# come from the Python package index into the project's .venv.
#
# Usage: bash cloudfront/package.sh [--origin-only|--edge-only]
# The edge bundle bakes its settings in (Lambda@Edge has no environment variables), so they
# come from TFREG_EDGE_TABLE, TFREG_EDGE_REGION and TFREG_EDGE_ORIGIN_SECRET (see
# edge/js/package.sh for the rest); without them only the origin is built.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p dist
what="${1:-all}"

if [ "$what" != "--edge-only" ]; then
  if [ ! -x .venv/bin/cargo-lambda ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda>=1.8,<2'
  fi
  # cargo-lambda finds zig through the ziglang package of the Python on PATH.
  PATH="$root/.venv/bin:$PATH" cargo-lambda lambda build --profile lambda --locked \
    -p tfreg-origin --bin bootstrap --x86-64 \
    --output-format zip --lambda-dir target/lambda
  cp target/lambda/bootstrap/bootstrap.zip dist/origin.zip
  if command -v objdump >/dev/null 2>&1; then
    check_dir="$(mktemp -d)"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' dist/origin.zip "$check_dir"
    newest="$(objdump -T "$check_dir/bootstrap" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n 1)"
    rm -rf "$check_dir"
    if [ "$(printf '%s\nGLIBC_2.34\n' "$newest" | sort -V | tail -n 1)" != "GLIBC_2.34" ]; then
      echo "bootstrap needs $newest, newer than Amazon Linux 2023's GLIBC_2.34" >&2
      exit 1
    fi
    echo "bootstrap needs at most $newest (Amazon Linux 2023 has GLIBC_2.34)"
  fi
  echo "dist/origin.zip: $(stat -c %s dist/origin.zip) bytes (bootstrap: $(unzip -Z -t dist/origin.zip 2>/dev/null | tail -n 1 || true))"
fi

if [ "$what" != "--origin-only" ]; then
  wasm="$(bash edge/build-wasm.sh)"
  rm -rf dist/edge-bundle && mkdir -p dist/edge-bundle
  cp edge/js/index.mjs edge/js/config.template.json dist/edge-bundle/
  cp "$wasm" dist/edge-bundle/edge.wasm
  echo "dist/edge-bundle: index.mjs, edge.wasm ($(stat -c %s dist/edge-bundle/edge.wasm) bytes), config.template.json"
  if [ -n "${TFREG_EDGE_TABLE:-}" ] && [ -n "${TFREG_EDGE_ORIGIN_SECRET:-}" ]; then
    bash edge/js/package.sh
  else
    echo "dist/edge.zip: not built; set TFREG_EDGE_TABLE, TFREG_EDGE_REGION and TFREG_EDGE_ORIGIN_SECRET to bake its settings" >&2
  fi
fi
