#!/usr/bin/env bash
# The README walkthrough with curl alone: sign up, confirm with the mailed code, sign in,
# create a workspace, activate Submit, grant yourself a Submit role, mint a production key,
# create a job with it (201), rotate it (both keys work in the overlap), revoke the old one
# (401). Runs against VAULT_URL when it is set (then MAIL_LOG must name the file the
# server's stdout goes to, where mails are printed); otherwise it starts the demo itself
# (VAULT_DEMO_BIN, or `cargo run`) on a fresh SQLite file (or WALKTHROUGH_DATABASE_URL) and
# stops it at the end.
set -euo pipefail
command -v curl >/dev/null || { echo "walkthrough: curl is needed" >&2; exit 1; }
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${VAULT_URL:-}" ]; then
  MAIL_LOG="$work/server.out"
  if [ -n "${VAULT_DEMO_BIN:-}" ]; then
    start=("$VAULT_DEMO_BIN")
  else
    start=(cargo run -q --)
  fi
  if [ -n "${WALKTHROUGH_DATABASE_URL:-}" ]; then
    # Another database (PostgreSQL): its secrets come from VAULT_PEPPER and VAULT_TOTP_KEY.
    "${start[@]}" --addr 127.0.0.1:0 --database-url "$WALKTHROUGH_DATABASE_URL" \
      >"$MAIL_LOG" 2>"$work/server.err" &
  else
    # A fresh SQLite file, its secrets in files beside it.
    env -u VAULT_PEPPER -u VAULT_TOTP_KEY "${start[@]}" --addr 127.0.0.1:0 \
      --database-url "sqlite://$work/vault.db" >"$MAIL_LOG" 2>"$work/server.err" &
  fi
  server=$!
  for _ in $(seq 1 600); do
    grep -q '^listening on ' "$MAIL_LOG" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
    sleep 0.1
  done
  port="$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$MAIL_LOG" | head -n1)"
  VAULT_URL="http://localhost:$port"
fi
: "${MAIL_LOG:?MAIL_LOG must name the file of the server stdout when VAULT_URL is given}"
jar="$work/cookies"
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
step() { echo "== $*" >&2; }
# Unsafe requests carry the Vault's origin and the CSRF token (as a browser would).
csrf() { curl -sf -b "$jar" -c "$jar" "$VAULT_URL/v1/csrf" | json '["token"]'; }
post() { # METHOD PATH BODY -> body; fails on a status >= 400
  curl -sf -X "$1" -b "$jar" -c "$jar" -H "Origin: $VAULT_URL" -H "X-CSRF-Token: $(csrf)" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} "$VAULT_URL$2"
}
email="ada.$RANDOM@example.com"
password="violet-otter-planet-92-saxophone"

step "sign up as $email"
post POST /v1/sign-up "{\"name\":\"Ada\",\"email\":\"$email\"}" >/dev/null
for _ in $(seq 1 100); do grep -q "to $email (verify_email)" "$MAIL_LOG" && break; sleep 0.1; done
code="$(grep -A8 "to $email (verify_email)" "$MAIL_LOG" | sed -n 's/.*code on the sign-up page: \([0-9]*\).*/\1/p' | tail -n1)"
step "confirm with the mailed code $code"
post POST /v1/sign-up/confirm "{\"email\":\"$email\",\"code\":\"$code\",\"password\":\"$password\"}" >/dev/null
step "sign in"
post POST /v1/sign-in "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
user="$(curl -sf -b "$jar" "$VAULT_URL/v1/me" | json '["user_id"]')"
step "create a workspace, activate Submit, grant the submitter role"
ws="$(post POST /v1/workspaces '{"name":"Acme"}' | json '["id"]')"
post PUT "/v1/workspaces/$ws/subscriptions/submit" >/dev/null
post POST "/v1/workspaces/$ws/grants" "{\"user_id\":\"$user\",\"product\":\"submit\",\"role\":\"submitter\"}" >/dev/null
step "mint a production key (shown once)"
minted="$(post POST "/v1/workspaces/$ws/keys" '{"product":"submit","environment":"production","permissions":["jobs:create","jobs:read"],"name":"walkthrough"}')"
old="$(echo "$minted" | json '["token"]')"
id="$(echo "$minted" | json '["id"]')"
job() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
  -H 'Content-Type: application/json' -d '{"title":"walkthrough"}' "$VAULT_URL/submit/api/jobs"; }
status="$(job "$old")"; step "POST /submit/api/jobs with it: $status"; [ "$status" = 201 ]
step "rotate it with an hour of overlap"
new="$(post POST "/v1/keys/$id/rotate" '{"overlap_seconds":3600}' | json '["token"]')"
[ "$(job "$old")" = 201 ] && [ "$(job "$new")" = 201 ] && step "both keys work in the overlap"
step "revoke the old key"
post POST "/v1/keys/$id/revoke" >/dev/null
status="$(job "$old")"; step "the old key now: $status"; [ "$status" = 401 ]
status="$(job "$new")"; step "the new key: $status"; [ "$status" = 201 ]
echo "walkthrough: ok"
