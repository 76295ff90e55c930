#!/usr/bin/env bash
# Builds the edge crate to WebAssembly for the Lambda@Edge bundle, reproducibly, and prints the
# path of the module:
#
#   wasm="$(bash edge/build-wasm.sh)"
#
# Panic locations name source files, so without remapping the module embeds where the build ran
# (the checkout, ~/.cargo/registry/..., the toolchain): a bundle built on another machine or in
# another folder has other bytes, its hash changes, and Terraform publishes a new replicated
# Lambda@Edge version. Every such prefix is remapped to a fixed name, so the same sources and
# toolchain give the same bytes wherever they are built (tests/reproducible_wasm.sh checks it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  echo "build-wasm.sh: the wasm32-unknown-unknown target is missing: rustup target add wasm32-unknown-unknown" >&2
  exit 1
fi
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
sysroot="$(rustc --print sysroot)"
# The target folder first: it may lie inside the checkout, and the longer prefix must win.
remap="--remap-path-prefix=$target_dir=/target --remap-path-prefix=$root=/tfreg"
remap="$remap --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$sysroot=/rustc-sysroot"
(cd "$root" && RUSTFLAGS="$remap" cargo build --quiet --locked -p tfreg-edge \
  --target wasm32-unknown-unknown --profile wasm)
echo "$target_dir/wasm32-unknown-unknown/wasm/tfreg_edge.wasm"
