#!/bin/sh
# Runs inside the booted container (see keysync-test.service). /src holds
# the repository's files and the built binary, /kt the test's inputs:
# config-1.toml (accounts A and Missing), config-2.toml (A, B, Missing,
# Slow),
# config-3.toml (A and C), config-busy.toml (listen on a taken port),
# bad.toml, keysync.env and armemu-ca.pem.
# Each result is one "KT key=value" line; the Go test judges them.
set -u
kt() { echo "KT $1=$2"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
show() { systemctl show -p "$2" --value "$1"; }
# fail ends the run early: what follows could only fail too.
fail() { kt failed "$1"; kt done yes; systemctl poweroff; exit 1; }

# wait_synced SECONDS NAME: waits until keysync.service logs that it
# synced account NAME.
wait_synced() {
  i=0
  while [ "$i" -lt "$(($1 * 5))" ]; do
    journalctl -q -o cat -u keysync.service | grep -F '"msg":"synced"' |
      grep -qF "\"path\":\"azure/batch/$2\"" && return 0
    sleep 0.2; i=$((i + 1))
  done
  return 1
}

# The README's steps: install, edit the two files, validate and start.
/src/systemd/install.sh || fail install
kt install ok
cat /kt/config-1.toml >/etc/keysync/config.toml   # as sudoedit: owner, mode kept
cat /kt/keysync.env >/etc/keysync/keysync.env
install -o root -g keysync -m 0640 /kt/armemu-ca.pem /etc/keysync/armemu-ca.pem
kt modes "$(stat -c '%n=%U:%G:%a' /etc/keysync /etc/keysync/config.toml /etc/keysync/keysync.env | tr '\n' ' ')"
/src/systemd/install.sh daemon || fail enable
kt enable ok
kt active "$(systemctl is-active keysync.service)"
kt user "$(stat -c %U "/proc/$(show keysync.service MainPID)")"
wait_synced 60 acctA && kt synced-a yes

# Reload applies a change: account B exists only in config-2.
cat /kt/config-2.toml >/etc/keysync/config.toml
systemctl reload keysync.service; kt reload "$?"
wait_synced 60 acctB && kt synced-b yes
kt active-after-reload "$(systemctl is-active keysync.service)"

# Stop is clean, and waits shutdown_grace (2s) for acctSlow's hung sync
# (its listKeys never answers and its timeout is 10 minutes: it is in
# flight however long the steps before took).
t0=$(ms)
systemctl stop keysync.service
kt stop-ms "$(($(ms) - t0))"
kt stop-result "$(show keysync.service Result)"
kt stop-status "$(show keysync.service ExecMainStatus)"
journalctl -q -o cat -u keysync.service | grep -qF '"msg":"stopped"' && kt stop-logged yes
journalctl -q -o cat -u keysync.service | grep -qF 'waiting for in-flight syncs' && kt stop-waited yes
# JSON logs give durations in seconds: shutdown_grace = "2s" logs as 2.
journalctl -q -o cat -u keysync.service | grep -F '"msg":"stopping"' | grep -qE '"grace":2[,}]' && kt json-grace-seconds yes

# A bad config fails the start with exit 2 and is not restarted.
cat /kt/bad.toml >/etc/keysync/config.toml
systemctl start keysync.service; kt bad-start "$?"
sleep 7   # RestartSec=5s: a restart would have happened by now
kt bad-restarts "$(show keysync.service NRestarts)"
kt bad-state "$(show keysync.service ActiveState)"
kt bad-status "$(show keysync.service ExecMainStatus)"

# A failure that is not the config's (here: its listen address is taken)
# is restarted every RestartSec=5s: wait for the first restart (up to a
# minute, however long a start takes to fail), not a fixed 7 s.
cat /kt/config-busy.toml >/etc/keysync/config.toml
systemctl start keysync.service; kt busy-start "$?"
# The start has failed (systemctl waited for it); the restart is 5 s away.
kt busy-status "$(show keysync.service ExecMainStatus)"
i=0
while [ "$(show keysync.service NRestarts)" = 0 ] && [ "$i" -lt 300 ]; do
  sleep 0.2; i=$((i + 1))
done
kt busy-restarts "$(show keysync.service NRestarts)"
systemctl stop keysync.service

# Priorities: failures at err, routine lines below it.
errs=$(journalctl -q -o cat -p err -u keysync.service)
echo "$errs" | grep -qF 'invalid config' && kt err-invalid-config yes
echo "$errs" | grep -F '"level":"ERROR"' | grep -qF '"path":"azure/batch/acctMissing"' && kt err-sync-failed yes
echo "$errs" | grep -qF '"msg":"synced"' && kt err-has-info yes
journalctl -q -o cat -p info -u keysync.service | grep -qF '"msg":"synced"' && kt info-synced yes

# The timer: a missed hourly run (the last one three hours ago) is caught
# up. systemd delays a catch-up by up to RandomizedDelaySec= after boot
# (5 min), longer than a test may wait: the test's one change to a unit,
# a drop-in, sets it to 0.
# The one run takes its Vault token from a credential, as the README
# describes: the token in a root-only file, LoadCredential= in a drop-in
# (what `systemctl edit` writes), token_file in config-3.
cat /kt/config-3.toml >/etc/keysync/config.toml
(umask 077 && sed -n 's/^VAULT_TOKEN=//p' /kt/keysync.env >/etc/keysync/vault-token)
grep -v '^VAULT_TOKEN=' /kt/keysync.env >/etc/keysync/keysync.env
kt env-token "$(grep -c VAULT_TOKEN /etc/keysync/keysync.env)"
mkdir -p /var/lib/systemd/timers /etc/systemd/system/keysync-once.timer.d \
  /etc/systemd/system/keysync-once.service.d
printf '[Service]\nLoadCredential=vault-token:/etc/keysync/vault-token\n' \
  >/etc/systemd/system/keysync-once.service.d/override.conf
touch -d '3 hours ago' /var/lib/systemd/timers/stamp-keysync-once.timer
printf '[Timer]\nRandomizedDelaySec=0\n' >/etc/systemd/system/keysync-once.timer.d/test.conf
# As the old README left them: install.sh, run again, must fix them.
chown root:root /etc/keysync /etc/keysync/config.toml
/src/systemd/install.sh timer || fail enable-timer
kt modes-after-rerun "$(stat -c '%n=%U:%G:%a' /etc/keysync /etc/keysync/config.toml | tr '\n' ' ')"
kt enable-timer ok
kt daemon-after-timer "$(systemctl is-enabled keysync.service)"
i=0
while [ "$(show keysync-once.service ExecMainExitTimestampMonotonic)" = 0 ] && [ "$i" -lt 300 ]; do
  sleep 0.2; i=$((i + 1))
done
[ "$(show keysync-once.service ExecMainExitTimestampMonotonic)" != 0 ] && kt once-ran yes
kt once-result "$(show keysync-once.service Result)"
kt once-status "$(show keysync-once.service ExecMainStatus)"
kt timer-active "$(systemctl is-active keysync-once.timer)"
kt done yes
systemctl poweroff
