#!/usr/bin/env bash
# Packages the Lambda@Edge viewer-request bundle: index.mjs (the handler), edge.wasm (the `edge`
# crate built for wasm32-unknown-unknown) and config.json (the settings, baked in because
# Lambda@Edge has no environment variables), zipped flat into dist/edge.zip (or --out).
#
#   edge/js/package.sh --table NAME --region REGION \
#       (--origin-secret VALUE | --origin-secret-file PATH) \
#       [--positive-ttl SECS] [--negative-ttl SECS] [--cache-capacity N] \
#       [--dynamodb-endpoint URL] [--out PATH]
#
# No archive-URL key: archive URLs are CloudFront signed URLs, checked by CloudFront's trusted
# key group with no function on /archives/*. Every option may come from the environment
# instead: TFREG_EDGE_TABLE, TFREG_EDGE_REGION, TFREG_EDGE_ORIGIN_SECRET,
# TFREG_EDGE_POSITIVE_TTL, TFREG_EDGE_NEGATIVE_TTL, TFREG_EDGE_CACHE_CAPACITY,
# TFREG_EDGE_DYNAMODB_ENDPOINT (tests only: a local DynamoDB-compatible server), TFREG_EDGE_OUT.
# Defaults (TTLs, capacity) come from config.template.json. The zip holds secrets: it is
# written mode 0600. Prints the zip's size and fails if it is over Lambda@Edge's 1 MB limit
# for viewer triggers.
set -euo pipefail
js_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$js_dir/../.." && pwd)"

table="${TFREG_EDGE_TABLE:-}"
region="${TFREG_EDGE_REGION:-}"
origin_secret="${TFREG_EDGE_ORIGIN_SECRET:-}"
positive_ttl="${TFREG_EDGE_POSITIVE_TTL:-}"
negative_ttl="${TFREG_EDGE_NEGATIVE_TTL:-}"
cache_capacity="${TFREG_EDGE_CACHE_CAPACITY:-}"
dynamodb_endpoint="${TFREG_EDGE_DYNAMODB_ENDPOINT:-}"
out="${TFREG_EDGE_OUT:-$root/dist/edge.zip}"

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need() { [ $# -ge 2 ] || { echo "package.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --table) need "$@"; table="$2"; shift 2 ;;
    --region) need "$@"; region="$2"; shift 2 ;;
    --origin-secret) need "$@"; origin_secret="$2"; shift 2 ;;
    --origin-secret-file) need "$@"; origin_secret="$(tr -d '\r\n' < "$2")"; shift 2 ;;
    --positive-ttl) need "$@"; positive_ttl="$2"; shift 2 ;;
    --negative-ttl) need "$@"; negative_ttl="$2"; shift 2 ;;
    --cache-capacity) need "$@"; cache_capacity="$2"; shift 2 ;;
    --dynamodb-endpoint) need "$@"; dynamodb_endpoint="$2"; shift 2 ;;
    --out) need "$@"; out="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "package.sh: unknown option $1" >&2; usage ;;
  esac
done
missing=()
[ -n "$table" ] || missing+=(--table)
[ -n "$region" ] || missing+=(--region)
[ -n "$origin_secret" ] || missing+=(--origin-secret)
if [ ${#missing[@]} -gt 0 ]; then
  echo "package.sh: missing ${missing[*]} (see --help)" >&2
  exit 2
fi

# The WebAssembly module: built reproducibly (edge/build-wasm.sh), panics abort, no imports.
wasm="$(bash "$root/edge/build-wasm.sh")"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$js_dir/index.mjs" "$stage/index.mjs"
cp "$wasm" "$stage/edge.wasm"

# config.json: the template's defaults, overridden by what was given. Values go to node through
# the environment, so no quoting can break them.
umask 077
TEMPLATE="$js_dir/config.template.json" STAGE="$stage" \
  TABLE="$table" REGION="$region" \
  ORIGIN_SECRET="$origin_secret" POSITIVE_TTL="$positive_ttl" NEGATIVE_TTL="$negative_ttl" \
  CACHE_CAPACITY="$cache_capacity" DYNAMODB_ENDPOINT="$dynamodb_endpoint" \
  node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
process.on("uncaughtException", (error) => {
  console.error(`package.sh: ${error.message}`);
  process.exit(1);
});
const env = process.env;
const config = JSON.parse(readFileSync(env.TEMPLATE, "utf8"));
const count = (name, value) => {
  if (value === "") return config[name];
  if (!/^[0-9]+$/.test(value)) throw new Error(`${name} must be a whole number, not ${value}`);
  return Number(value);
};
config.table = env.TABLE;
config.region = env.REGION;
config.origin_secret = env.ORIGIN_SECRET;
config.positive_ttl_secs = count("positive_ttl_secs", env.POSITIVE_TTL);
config.negative_ttl_secs = count("negative_ttl_secs", env.NEGATIVE_TTL);
config.cache_capacity = count("cache_capacity", env.CACHE_CAPACITY);
config.dynamodb_endpoint = env.DYNAMODB_ENDPOINT || null;
writeFileSync(`${env.STAGE}/config.json`, JSON.stringify(config, null, 2) + "\n");

// Check the bundle as the handler will load it: the module must need no imports, and its
// init must accept this config.json.
const module = new WebAssembly.Module(readFileSync(`${env.STAGE}/edge.wasm`));
const imports = WebAssembly.Module.imports(module);
if (imports.length) throw new Error(`edge.wasm imports ${JSON.stringify(imports)}; it must import nothing`);
const wasm = new WebAssembly.Instance(module, {}).exports;
const text = new TextEncoder().encode(readFileSync(`${env.STAGE}/config.json`, "utf8"));
const ptr = wasm.alloc(text.length) >>> 0;
new Uint8Array(wasm.memory.buffer, ptr, text.length).set(text);
const length = wasm.init(ptr, text.length) >>> 0;
const answer = JSON.parse(new TextDecoder().decode(new Uint8Array(wasm.memory.buffer, wasm.output_ptr() >>> 0, length)));
if (answer.error) throw new Error(answer.error);
'
# Lambda runs the code as another user: the files inside the zip must be world-readable.
chmod 644 "$stage/index.mjs" "$stage/edge.wasm" "$stage/config.json"

mkdir -p "$(dirname "$out")"
zip_tmp="$stage/edge.zip"
if command -v zip >/dev/null 2>&1; then
  (cd "$stage" && zip -q -X -9 "$zip_tmp" index.mjs edge.wasm config.json)
else
  (cd "$stage" && python3 - "$zip_tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name in ("index.mjs", "edge.wasm", "config.json"):
        info = zipfile.ZipInfo.from_file(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        with open(name, "rb") as f:
            z.writestr(info, f.read())
PY
  )
fi
mv -f "$zip_tmp" "$out"
chmod 600 "$out"

size=$(wc -c < "$out" | tr -d ' ')
wasm_size=$(wc -c < "$stage/edge.wasm" | tr -d ' ')
limit=1048576
echo "wrote $out: $size bytes (edge.wasm $wasm_size bytes uncompressed; the limit is $limit)"
if [ "$size" -ge "$limit" ]; then
  echo "package.sh: $out is over Lambda@Edge's 1 MB limit for viewer-request functions" >&2
  exit 1
fi
