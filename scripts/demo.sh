#!/usr/bin/env bash
# keysync demo: a real Vault dev server and the ARM emulator on loopback,
# three Batch accounts, a first sync, a key rotation, the masked plan, a
# second sync, and the KV versions that prove only the change was written.
# Run it through `make demo`, which builds what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=.demo
VAULT_PORT=${DEMO_VAULT_PORT:-18200}
SUB=00000000-0000-0000-0000-000000000001
RG=demo-rg
ACCOUNTS=(payments analytics render)

rm -rf "$STATE" && mkdir -p "$STATE"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting Vault dev server on 127.0.0.1:$VAULT_PORT"
tools/vault/bin/vault server -dev -dev-root-token-id=demo-root \
  -dev-listen-address="127.0.0.1:$VAULT_PORT" >"$STATE/vault.log" 2>&1 &
pids+=($!)
export VAULT_ADDR="http://127.0.0.1:$VAULT_PORT" VAULT_TOKEN=demo-root
for _ in $(seq 100); do tools/vault/bin/vault status >/dev/null 2>&1 && break; sleep 0.2; done
tools/vault/bin/vault status >/dev/null || { echo "Vault did not start; see $STATE/vault.log"; exit 1; }

say "starting the ARM emulator (HTTPS, managed-identity endpoint)"
emu_args=()
for a in "${ACCOUNTS[@]}"; do emu_args+=(--account "$SUB/$RG/$a"); done
bin/armemu --state-dir "$STATE/emu" "${emu_args[@]}" 2>"$STATE/armemu.log" &
pids+=($!)
for _ in $(seq 100); do [ -f "$STATE/emu/env" ] && break; sleep 0.1; done
set -a; . "$STATE/emu/env"; set +a

{
  printf 'concurrency = 4\n\n[azure]\nendpoint = "%s"\ncredential = "managed-identity"\n\n[vault]\nmount = "secret"\n' "$ARM_ENDPOINT"
  for a in "${ACCOUNTS[@]}"; do
    printf '\n[[account]]\nsubscription_id = "%s"\nresource_group = "%s"\nname = "%s"\npath = "azure/batch/%s"\n' "$SUB" "$RG" "$a" "$a"
  done
} >"$STATE/config.toml"
echo "config: $STATE/config.toml"

versions() {
  for a in "${ACCOUNTS[@]}"; do
    printf '  secret/azure/batch/%-10s current_version=%s\n' "$a" \
      "$(tools/vault/bin/vault kv metadata get -format=json "secret/azure/batch/$a" | jq -r .data.current_version)"
  done
}

say "validate the config (touches neither Azure nor Vault)"
bin/keysync --config "$STATE/config.toml" --validate

say "dry run: the masked plan (fingerprints, never keys)"
bin/keysync --config "$STATE/config.toml" --dry-run --log-level warn

say "first sync"
bin/keysync --config "$STATE/config.toml" --run-now --log-level warn
versions

say "someone regenerates the secondary key of 'payments' in Azure"
curl -sS --cacert "$SSL_CERT_FILE" -X POST "$ARM_ENDPOINT/_emulator/regenerate" \
  -d "{\"subscriptionId\":\"$SUB\",\"resourceGroup\":\"$RG\",\"name\":\"payments\",\"keyName\":\"secondary\"}"
echo "emulator now holds:"
curl -sS --cacert "$SSL_CERT_FILE" "$ARM_ENDPOINT/_emulator/accounts" | jq -r '.[] | "  \(.name): primary \(.primaryFingerprint) secondary \(.secondaryFingerprint)"'

say "dry run: keysync would update one field of one secret"
bin/keysync --config "$STATE/config.toml" --dry-run --log-level warn

say "second sync"
bin/keysync --config "$STATE/config.toml" --run-now --log-level warn
versions

say "third sync: nothing changed, nothing written"
bin/keysync --config "$STATE/config.toml" --run-now --log-level warn
versions

say "provenance keysync recorded for secret/azure/batch/payments"
tools/vault/bin/vault kv metadata get -format=json secret/azure/batch/payments | jq .data.custom_metadata

LISTEN=127.0.0.1:${DEMO_LISTEN_PORT:-20719}
say "the daemon: every account every 2 seconds, endpoints on $LISTEN"
{ printf 'schedule = "@every 2s"\nlisten = "%s"\n' "$LISTEN"; cat "$STATE/config.toml"; } >"$STATE/daemon.toml"
bin/keysync --config "$STATE/daemon.toml" 2>"$STATE/daemon.log" &
daemon=$!
pids+=("$daemon")
for _ in $(seq 50); do curl -sf "http://$LISTEN/readyz" >/dev/null && break; sleep 0.2; done
echo "GET /readyz: $(curl -s "http://$LISTEN/readyz")"
say "Azure regenerates the primary key of 'render'; the daemon picks it up at its next tick"
curl -sS --cacert "$SSL_CERT_FILE" -X POST "$ARM_ENDPOINT/_emulator/regenerate" \
  -d "{\"subscriptionId\":\"$SUB\",\"resourceGroup\":\"$RG\",\"name\":\"render\",\"keyName\":\"primary\"}"
sleep 3
grep 'msg=synced' "$STATE/daemon.log" | sed 's/^/  /'
versions
echo "a few metrics:"
curl -s "http://$LISTEN/metrics" | grep -E '^keysync_(sync_total|arm_requests_total|vault_requests_total)' | sed 's/^/  /'
kill -TERM "$daemon"; wait "$daemon" && echo "daemon stopped with exit code 0 on SIGTERM"
say "done"
