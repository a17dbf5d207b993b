#!/usr/bin/env bash
# keysync demo: a real Vault dev server and the ARM emulator on loopback.
#   1. Batch: a first sync, a key changed in Azure, the masked plan, a
#      second sync, and the KV versions that prove only the change was written.
#   2. Discovery: accounts found by tag; one tagged, one untagged, and the
#      secret of the one gone marked.
#   3. Rotation: keysync regenerates the inactive key and moves `active`.
#   4. Events: the daemon, an hourly schedule, and an Event Grid event from
#      the emulator that brings a regenerated key to Vault in under a second.
# Run it through `make demo`, which builds what it needs first. It needs
# nothing but the README's prerequisites (Go, make, gcc, curl, jq).
#
# Environment (all optional; scripts/demo_test.go sets them):
#   DEMO_STATE        folder for configs and logs (.demo); cleared at start
#   DEMO_VAULT_PORT   Vault's port (a free one; Vault also takes the next)
#   DEMO_LISTEN_PORT  the daemon's listen port (a free one)
#   DEMO_KEYSYNC, DEMO_ARMEMU  the binaries (bin/keysync, bin/armemu)
#   KEYSYNC_VAULT_BIN the Vault server (tools/vault/bin/vault), as for the tests
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${DEMO_STATE:-.demo}
KEYSYNC=${DEMO_KEYSYNC:-bin/keysync}
ARMEMU=${DEMO_ARMEMU:-bin/armemu}
VAULT=${KEYSYNC_VAULT_BIN:-tools/vault/bin/vault}
SUB=00000000-0000-0000-0000-000000000001
RG=demo-rg
APPS_RG=apps-rg
ACCOUNTS=(payments analytics render)

section=start
pids=()
bold=$'\033[1m' plain=$'\033[0m'
[ -t 1 ] || bold='' plain=''

say() { section=$*; printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
die() { echo "demo: $*" >&2; exit 1; }

# cleanup stops every process the demo started and, when a step failed,
# says where to look.
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  local what=failed
  [ "$rc" -ne 130 ] || what=interrupted
  if [ "$rc" -ne 0 ]; then
    echo "demo $what in \"$section\" (exit $rc); logs: $STATE/vault.log, $STATE/armemu.log, $STATE/daemon.log" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port that nothing listens on, nor on the
# next one (Vault's dev server takes port+1 for its cluster listener),
# below Linux's ephemeral range (32768 up) so that no outgoing connection
# takes it before it is used.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (: <>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (: <>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# port NAME VALUE accepts a port number, or dies naming the variable.
port() { [[ $2 =~ ^[0-9]{1,5}$ ]] && (($2 > 0 && $2 < 65535)) || die "$1=$2 is not a port"; echo "$2"; }

# wait_for SECONDS PID WHAT CMD... runs CMD every 0.1 s until it
# succeeds; it gives up when process PID, which CMD waits on, exits.
wait_for() {
  local secs=$1 pid=$2 what=$3 end=$((SECONDS + $1))
  shift 3
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "$what: it exited"
    ((SECONDS < end)) || die "$what: not within ${secs} s"
    sleep 0.1
  done
}

# now_ms is the wall clock in milliseconds.
now_ms() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((10#$t / 1000))
  else
    date +%s%3N
  fi
}

# emu METHOD PATH [JSON] calls the emulator's admin API (fingerprints only,
# never keys).
emu() {
  local args=(-sS --fail-with-body --cacert "$SSL_CERT_FILE" -X "$1" "$ARM_ENDPOINT/_emulator/$2")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}"
}

# meta PATH is the KV v2 metadata of secret/PATH; active PATH its data's
# active field, the only field of the data the demo reads.
meta() { curl -sS --fail-with-body -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/secret/metadata/$1"; }
active() {
  curl -sS --fail-with-body -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/secret/data/$1" | jq -r '.data.data.active // "(none)"'
}
version() { meta "$1" | jq -r .data.current_version; }

# ks CONFIG ARGS... runs keysync once on $STATE/CONFIG.
ks() { "$KEYSYNC" --config "$STATE/$1" --log-level warn "${@:2}"; }

# account NAME prints one resource of the emulator: its fingerprints.
account() { emu GET accounts | jq -r --arg n "$1" '.[] | select(.name == $n)'; }

# header is the [azure] and [vault] part of every config.
header() { printf '[azure]\nendpoint = "%s"\ncredential = "managed-identity"\n\n[vault]\nmount = "secret"\n' "$ARM_ENDPOINT"; }

prepare_state() {
  # .demo is the demo's own (make clean removes it); another folder is
  # cleared only when empty or made by the demo.
  if [ "$STATE" != .demo ] && [ -e "$STATE" ] && [ ! -e "$STATE/.keysync-demo" ] && [ -n "$(ls -A "$STATE")" ]; then
    die "refusing to clear $STATE: it is not empty and not a demo state folder"
  fi
  rm -rf "$STATE"
  mkdir -p "$STATE"
  touch "$STATE/.keysync-demo"
}

start_vault() {
  local p
  p=$(port DEMO_VAULT_PORT "${DEMO_VAULT_PORT:-$(free_port)}")
  say "starting Vault dev server on 127.0.0.1:$p"
  "$VAULT" server -dev -dev-root-token-id=demo-root -dev-no-store-token \
    -dev-listen-address="127.0.0.1:$p" >"$STATE/vault.log" 2>&1 &
  pids+=($!)
  export VAULT_ADDR="http://127.0.0.1:$p" VAULT_TOKEN=demo-root
  wait_for 60 "$!" "Vault to answer (see $STATE/vault.log)" curl -sf "$VAULT_ADDR/v1/sys/health"
}

start_emulator() {
  say "starting the ARM emulator (HTTPS, managed-identity endpoint, Resource Graph, Event Grid)"
  local args=()
  for a in "${ACCOUNTS[@]}" orders; do args+=(--account "$SUB/$RG/$a"); done
  args+=(--account "$SUB/$APPS_RG/ingest?keysync=true&owner=data"
    --account "$SUB/$APPS_RG/reports?keysync=true&owner=bi"
    --account "$SUB/$APPS_RG/billing?keysync=true&owner=finance"
    --account "$SUB/$APPS_RG/sandbox?owner=dev")
  "$ARMEMU" --state-dir "$STATE/emu" "${args[@]}" 2>"$STATE/armemu.log" &
  pids+=($!)
  wait_for 30 "$!" "the emulator's env file (see $STATE/armemu.log)" test -f "$STATE/emu/env"
  set -a
  # shellcheck source=/dev/null
  . "$STATE/emu/env"
  set +a
}

versions() {
  for a in "${ACCOUNTS[@]}"; do
    printf '  secret/azure/batch/%-10s current_version=%s\n' "$a" "$(version "azure/batch/$a")"
  done
}

# sync_step TITLE runs the Batch story's config once and shows the
# versions in Vault.
sync_step() {
  say "$1"
  ks config.toml --run-now
  versions
}

batch_story() {
  {
    printf 'concurrency = 4\n\n'
    header
    for a in "${ACCOUNTS[@]}"; do
      printf '\n[[account]]\nsubscription_id = "%s"\nresource_group = "%s"\nname = "%s"\npath = "azure/batch/%s"\n' "$SUB" "$RG" "$a" "$a"
    done
  } >"$STATE/config.toml"
  echo "config: $STATE/config.toml"

  say "validate the config (touches neither Azure nor Vault)"
  "$KEYSYNC" --config "$STATE/config.toml" --validate

  say "dry run: the masked plan (fingerprints, never keys)"
  ks config.toml --dry-run

  sync_step "first sync"

  say "someone regenerates the secondary key of 'payments' in Azure"
  emu POST regenerate "{\"subscriptionId\":\"$SUB\",\"resourceGroup\":\"$RG\",\"name\":\"payments\",\"keyName\":\"secondary\"}"
  echo "emulator now holds:"
  emu GET accounts | jq -r --arg rg "$RG" '.[] | select(.resourceGroup == $rg and .name != "orders")
    | "  \(.name): primary \(.primaryFingerprint) secondary \(.secondaryFingerprint)"'

  say "dry run: keysync would update one field of one secret"
  ks config.toml --dry-run

  sync_step "second sync"

  sync_step "third sync: nothing changed, nothing written"

  say "provenance keysync recorded for secret/azure/batch/payments"
  meta azure/batch/payments | jq .data.custom_metadata
}

discovery_story() {
  {
    # A block of four may lose one at a time (the default, 0.2, holds a
    # single removal from fewer than five accounts).
    printf 'discovery = "resource-graph"\nmax_removed_fraction = 0.5\n\n'
    header
    cat <<EOF

[[discover]]
name                 = "tagged"
type                 = "batch"
subscriptions        = ["$SUB"]
resource_groups      = ["$APPS_RG"]
tags                 = { keysync = "true" }
copy_tags            = ["owner"]
path                 = "azure/{type}/{resource_group}/{name}"
on_removed           = "mark"
EOF
  } >"$STATE/discover.toml"

  say "discovery: no list of accounts, a Resource Graph query by tag ($STATE/discover.toml)"
  { sed -n 1,2p "$STATE/discover.toml"; echo; sed -n '/^\[\[discover\]\]/,$p' "$STATE/discover.toml"; } | sed 's/^/  /'
  echo "the emulator's Batch accounts in $APPS_RG and their tags:"
  tags_of_apps
  ks discover.toml --run-now

  say "a deployment adds 'forecast' with the tag; someone takes the tag off 'reports'"
  emu POST accounts "{\"subscriptionId\":\"$SUB\",\"resourceGroup\":\"$APPS_RG\",\"name\":\"forecast\",\"tags\":{\"keysync\":\"true\",\"owner\":\"ml\"}}"
  emu POST tags "{\"subscriptionId\":\"$SUB\",\"resourceGroup\":\"$APPS_RG\",\"name\":\"reports\",\"tags\":{\"owner\":\"bi\"}}"
  tags_of_apps
  ks discover.toml --run-now

  say "the secret of 'reports' is kept, marked as gone from Azure (on_removed = \"mark\")"
  meta "azure/batch/$APPS_RG/reports" | jq '.data.custom_metadata | {"source-gone-at", "discovered-by", "azure-tag-owner"}'
}

tags_of_apps() {
  emu GET accounts | jq -r --arg rg "$APPS_RG" '.[] | select(.resourceGroup == $rg)
    | "  \(.name): \(.tags // {} | to_entries | map("\(.key)=\(.value)") | join(" "))"'
}

rotation_story() {
  local path=azure/batch/orders before after
  {
    header
    printf '\n[[account]]\nsubscription_id = "%s"\nresource_group = "%s"\nname = "orders"\npath = "%s"\n' "$SUB" "$RG" "$path"
    printf 'rotate_every = "2s"   # weeks in real life; seconds for the demo\nrotate_grace = "1s"   # the old key stays valid at least this long after active moves\n'
  } >"$STATE/rotate.toml"

  say "rotation: 'orders' rotates every 2 s (rotate_every); the first sync records the baseline"
  ks rotate.toml --run-now
  echo "active in Vault: $(active "$path"), version $(version "$path")"

  say "once the period has passed by Vault's own version time, the plan regenerates the inactive key"
  local plan=''
  for _ in $(seq 60); do
    plan=$(ks rotate.toml --dry-run)
    grep -q 'rotate: regenerate' <<<"$plan" && break
    sleep 0.5
  done
  grep -q 'rotate: regenerate secondary' <<<"$plan" || die "no rotation planned within 30 s:"$'\n'"$plan"
  echo "$plan"

  say "the rotation: keysync regenerates 'secondary' in Azure and makes it active in Vault"
  before=$(account orders | jq -r .secondaryFingerprint)
  local was
  was=$(active "$path")
  ks rotate.toml --run-now
  after=$(account orders | jq -r .secondaryFingerprint)
  [ "$before" != "$after" ] || die "the secondary key did not change in Azure"
  echo "active in Vault: $was -> $(active "$path")"
  echo "secondary in Azure: $before -> $after"
  echo "secondary in Vault: $(meta "$path" | jq -r '.data.custom_metadata["fingerprint-secondary"]'), version $(version "$path")"
}

events_story() {
  local listen secret="$STATE/events-secret" tenant keys
  listen=127.0.0.1:$(port DEMO_LISTEN_PORT "${DEMO_LISTEN_PORT:-$(free_port)}")
  (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret")
  read -r tenant keys < <(emu GET eventgrid/entra | jq -r '"\(.tenantId) \(.keysUrl)"')
  [ -n "$keys" ] || die "the emulator named no Entra tenant"
  {
    printf 'schedule = "@every 1h"\nlisten = "%s"\n' "$listen"
    cat "$STATE/config.toml"
    cat <<EOF

[events]
enabled       = true
secret_file   = "$secret"
secret_header = "X-Keysync-Secret"

[events.entra]   # the emulator's own Entra tenant; tokens issued to Event Grid's app
tenant   = "$tenant"
audience = "api://keysync-demo"
keys_url = "$keys"
EOF
  } >"$STATE/daemon.toml"

  say "events: the daemon, every account once an hour, Event Grid's webhook on $listen"
  "$KEYSYNC" --config "$STATE/daemon.toml" 2>"$STATE/daemon.log" &
  local daemon=$!
  pids+=("$daemon")
  wait_for 30 "$daemon" "the daemon to be ready (see $STATE/daemon.log)" curl -sf "http://$listen/readyz"
  echo "GET /readyz: $(curl -sS "http://$listen/readyz")"

  say "the emulator's Event Grid subscribes keysync's webhook (validation handshake; secret header and Entra token)"
  jq -n --rawfile s "$secret" --arg url "http://$listen/events/eventgrid" \
    '{name: "keysync-demo", endpoint: $url, headers: {"X-Keysync-Secret": $s},
      entraAudience: "api://keysync-demo", maxDeliveryAttempts: 5, retryBaseSeconds: 1}' \
    | emu POST eventgrid/subscriptions @-
  echo "subscribed: keysync answered the handshake"

  say "Azure regenerates the primary key of 'render'; Event Grid tells keysync"
  local v0 t0 ms
  v0=$(version azure/batch/render)
  t0=$(now_ms)
  emu POST regenerate "{\"subscriptionId\":\"$SUB\",\"resourceGroup\":\"$RG\",\"name\":\"render\",\"keyName\":\"primary\"}"
  until [ "$(version azure/batch/render 2>/dev/null)" -gt "$v0" ] 2>/dev/null; do
    (($(now_ms) - t0 < 30000)) || die "the new key did not reach Vault within 30 s"
    sleep 0.01
  done
  ms=$(($(now_ms) - t0))
  echo "event to Vault: $ms ms (of which the [events] window, 500 ms, gathers an account's events into one sync)"
  echo "primary in Azure: $(account render | jq -r .primaryFingerprint)," \
    "in Vault: $(meta azure/batch/render | jq -r '.data.custom_metadata["fingerprint-primary"]')"
  grep -E 'key change event|msg=synced' "$STATE/daemon.log" | sed 's/^/  /'
  echo "Event Grid's deliveries to keysync (HTTP status of each):" \
    "$(emu GET eventgrid/subscriptions/keysync-demo | jq -r '[.deliveries[].status] | map(tostring) | join(" ")')"
  echo "a few metrics:"
  curl -sS "http://$listen/metrics" | grep -E '^keysync_(events_total|event_to_write_seconds_(sum|count)|sync_total\{account="render")' | sed 's/^/  /'
  kill -TERM "$daemon"
  wait "$daemon" || die "the daemon exited with code $? on SIGTERM"
  echo "daemon stopped with exit code 0 on SIGTERM"
}

prepare_state
start_vault
start_emulator
batch_story
discovery_story
rotation_story
events_story
say "done"
