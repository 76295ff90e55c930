#!/usr/bin/env bash
# Keeps terraform/openapi.json true: schemathesis (from PyPI, in .venv/schemathesis, installed
# by tests/setup.sh) runs every operation of the document that `tfreg serve` itself serves at
# /openapi.json against the debug `tfreg serve`, with the master token as bearer, statefully
# along the document's links (create a token, then list and revoke it; publish a version, then
# read it), and fails on any 5xx, undocumented status code or response that breaks its schema.
# Bounded: a few dozen examples per operation, about a minute on two cores.
#
#   bash tests/openapi.sh            (after `cargo build -p tfreg-cloudfront --bin tfreg`)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tfreg="${CARGO_TARGET_DIR:-$root/target}/debug/tfreg"
schemathesis="$root/.venv/schemathesis/bin/schemathesis"
max_examples="${TFREG_OPENAPI_MAX_EXAMPLES:-25}"
[ -x "$tfreg" ] || { echo "no $tfreg: run cargo build -p tfreg-cloudfront --bin tfreg first" >&2; exit 1; }
[ -x "$schemathesis" ] || { echo "no $schemathesis: run tests/setup.sh first" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Pinning always has an upstream; schemathesis must not reach the public registry, so it gets
# one that knows no module (its discovery document, then 404 for everything): pins are 404.
cat >"$work/upstream.py" <<'PY'
import http.server, json, sys
class Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/.well-known/terraform.json":
            status, body = 200, {"modules.v1": "/v1/modules/"}
        else:
            status, body = 404, {"errors": ["Not Found"]}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$work/upstream.py" >"$work/upstream.port" &
pids+=($!)

# --listen 127.0.0.1:0: the first line names the port the system gave it.
mkfifo "$work/out"
"$tfreg" serve --data-dir "$work/data" --listen 127.0.0.1:0 \
  --proxy-upstream "http://127.0.0.1:$(
    for _ in $(seq 50); do [ -s "$work/upstream.port" ] && break; sleep 0.1; done
    cat "$work/upstream.port"
  )" --proxy-timeout 5 >"$work/out" 2>"$work/serve.log" &
pids+=($!)
exec 3<"$work/out"
read -r first <&3
base="${first#tfreg listening on }"
case "$base" in https://127.0.0.1:*) ;; *) echo "unexpected first line: $first" >&2; cat "$work/serve.log" >&2; exit 1 ;; esac
# Keep reading its stdout so it never blocks on a full pipe.
cat <&3 >/dev/null &
pids+=($!)

# Every check (schemathesis' default), less what a schema cannot say: an expires_at in the past
# and an upload body that is not a module archive (or a signed provider release, or a GPG key)
# are valid by the document and still refused (400); and `…/{system}/versions` (and a
# provider's `…/{type}/versions`) also fits the upload path `…/{system}/{version}`, so PUT there
# is an upload of version "versions" (400 invalid_version) and `Allow` names PUT. 405 with
# `Allow` on every route is tested in tests/http_api.rs.
cat >"$work/schemathesis.toml" <<'TOML'
[[operations]]
include-operation-id = ["createToken", "uploadVersion", "publishProvider", "addSigningKey"]
checks.positive_data_acceptance.enabled = false

[[operations]]
include-operation-id = ["listVersions", "listProviderVersions"]
checks.unsupported_method.enabled = false
checks.allow_header_conformance.enabled = false
TOML

master="$(cat "$work/data/master-token")"
# The document's example module (acme/vpc/aws 1.0.0), published first, so the examples phase
# reads a real version list, version and download answer.
mkdir "$work/module" && printf 'output "x" {\n  value = 1\n}\n' >"$work/module/main.tf"
tar -czf "$work/module.tar.gz" -C "$work/module" .
curl --silent --show-error --fail --cacert "$work/data/tls/ca.pem" -o /dev/null \
  -H "Authorization: Bearer $master" -X PUT --data-binary @"$work/module.tar.gz" \
  "$base/v1/modules/acme/vpc/aws/1.0.0"
echo "schemathesis $("$schemathesis" --version | awk '{print $NF}') against $base/openapi.json, $max_examples examples per operation"
# From the scratch folder: schemathesis keeps state in ./.schemathesis, which goes with it.
cd "$work"
"$schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --url "$base" \
  --tls-verify "$work/data/tls/ca.pem" \
  --header "Authorization: Bearer $master" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$max_examples" \
  --workers 1 \
  --seed 1515 \
  --generation-database none \
  --request-timeout 20 \
  --no-color
