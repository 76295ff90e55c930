#!/bin/sh
# Writes the zip of the viewer-request Lambda@Edge function: index.mjs and edge.wasm from the
# unbaked bundle (dist/edge-bundle/, from `bash cloudfront/package.sh`) and config.json, the
# settings the module rendered. lambda_edge.tf runs it at apply time, and only when the
# function's source_code_hash changes; it is not meant to be run by hand.
#
# Everything comes from the environment, so that no secret is on a command line:
#   TFREG_EDGE_BUNDLE_DIR    the directory holding index.mjs and edge.wasm
#   TFREG_EDGE_INDEX_SHA256  the SHA-256 (hex) of index.mjs when the plan was made
#   TFREG_EDGE_WASM_SHA256   the SHA-256 (hex) of edge.wasm when the plan was made
#   TFREG_EDGE_CONFIG_JSON   the text of config.json: it holds the origin secret
#   TFREG_EDGE_ZIP           the zip to write
#
# The zip is written owner-only (0600): it holds the two secrets. The files inside it are 0644,
# because Lambda runs the code as another user. index.mjs and edge.wasm must still be the files
# the plan hashed (dist/ rebuilt between plan and apply would deploy other code than the plan
# showed). Lambda@Edge takes at most 1 MB of zip for a viewer trigger. Needs python3, or zip
# and sha256sum (or shasum).
set -eu
umask 077

bundle="${TFREG_EDGE_BUNDLE_DIR:?TFREG_EDGE_BUNDLE_DIR is not set}"
index_sha256="${TFREG_EDGE_INDEX_SHA256:?TFREG_EDGE_INDEX_SHA256 is not set}"
wasm_sha256="${TFREG_EDGE_WASM_SHA256:?TFREG_EDGE_WASM_SHA256 is not set}"
out="${TFREG_EDGE_ZIP:?TFREG_EDGE_ZIP is not set}"
: "${TFREG_EDGE_CONFIG_JSON:?TFREG_EDGE_CONFIG_JSON is not set}"

fail() {
  echo "build-edge-zip.sh: $*" >&2
  exit 1
}

sha256_of() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
  elif command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    fail "needs python3, sha256sum or shasum"
  fi
}

# Stage copies, so that what is checked is what is zipped. Whatever happens, the staged copies
# (config.json among them) and a half-written zip go.
stage="$(mktemp -d)"
partial="$out.partial"
trap 'rm -rf "$stage"; rm -f "$partial"' EXIT
trap 'exit 1' HUP INT TERM
cp "$bundle/index.mjs" "$stage/index.mjs" || fail "no index.mjs in $bundle (bash cloudfront/package.sh builds it)"
cp "$bundle/edge.wasm" "$stage/edge.wasm" || fail "no edge.wasm in $bundle (bash cloudfront/package.sh builds it)"
printf '%s' "$TFREG_EDGE_CONFIG_JSON" >"$stage/config.json"

[ "$(sha256_of "$stage/index.mjs")" = "$index_sha256" ] ||
  fail "$bundle/index.mjs changed since the plan; run terraform plan again"
[ "$(sha256_of "$stage/edge.wasm")" = "$wasm_sha256" ] ||
  fail "$bundle/edge.wasm changed since the plan; run terraform plan again"

mkdir -p "$(dirname "$out")"
rm -f "$partial"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$stage" "$partial" <<'PY'
import sys, zipfile

stage, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as bundle:
    for name in ("index.mjs", "edge.wasm", "config.json"):
        # Fixed dates and modes: the same inputs give the same bytes.
        entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = 0o100644 << 16
        with open(f"{stage}/{name}", "rb") as f:
            bundle.writestr(entry, f.read(), compresslevel=9)
PY
elif command -v zip >/dev/null 2>&1; then
  chmod 644 "$stage/index.mjs" "$stage/edge.wasm" "$stage/config.json"
  (cd "$stage" && zip -q -X -9 "$stage/edge.zip" index.mjs edge.wasm config.json)
  mv -f "$stage/edge.zip" "$partial"
else
  fail "needs python3 or zip"
fi
chmod 600 "$partial"
mv -f "$partial" "$out"

size="$(wc -c <"$out" | tr -d ' ')"
if [ "$size" -ge 1048576 ]; then
  fail "$out is $size bytes, over Lambda@Edge's 1 MB for a viewer-request function"
fi
echo "build-edge-zip.sh: wrote $out ($size bytes, mode 0600)"
