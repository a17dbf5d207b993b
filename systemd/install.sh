#!/bin/sh
# Installs keysync as a systemd service. Run from the repository, after
# `make build`, as root:
#
#   sudo systemd/install.sh          # binary, user, /etc/keysync, units
#   sudoedit /etc/keysync/config.toml /etc/keysync/keysync.env
#   sudo systemd/install.sh daemon   # check the config as keysync, start the daemon
#   (or: sudo systemd/install.sh timer, for one run every hour instead)
#
# Every line below is a step you may run by hand instead. Running it again
# upgrades the binary and units, keeps your config and env files, and
# restarts the daemon or timer you name.
# systemd/boot_test.go runs this very script under a real systemd.
set -eu
cd "$(dirname "$0")/.."

install -D -m 0755 bin/keysync /usr/local/bin/keysync
install -D -m 0644 README.md /usr/local/share/doc/keysync/README.md

# A static system user: its group reads the config, nobody else does.
install -D -m 0644 systemd/keysync.sysusers /etc/sysusers.d/keysync.conf
systemd-sysusers /etc/sysusers.d/keysync.conf

# Root writes the config, group keysync reads it, nobody else. The owner
# and mode are set on an existing file too: older installs left it
# root:root, which the service cannot read.
install -d -o root -g keysync -m 0750 /etc/keysync
[ -e /etc/keysync/config.toml ] ||
  install -m 0640 config.example.toml /etc/keysync/config.toml
chown root:keysync /etc/keysync/config.toml
chmod 0640 /etc/keysync/config.toml
# Read by systemd itself (as root): VAULT_ADDR, VAULT_TOKEN=... go here.
[ -e /etc/keysync/keysync.env ] ||
  install -o root -g root -m 0600 /dev/null /etc/keysync/keysync.env

install -m 0644 systemd/keysync.service systemd/keysync-once.service \
  systemd/keysync-once.timer /etc/systemd/system/
systemctl daemon-reload

# The daemon or the timer, never both.
case "${1-}" in
'') exit 0 ;;
daemon) unit=keysync.service other=keysync-once.timer ;;
timer) unit=keysync-once.timer other=keysync.service ;;
*) echo "usage: $0 [daemon|timer]" >&2; exit 2 ;;
esac
# Check the config as the service's own user: it proves keysync can read it.
setpriv --reuid=keysync --regid=keysync --init-groups \
  /usr/local/bin/keysync --config /etc/keysync/config.toml --validate
systemctl disable --now "$other"
systemctl enable "$unit"
systemctl restart "$unit"   # starts it, or runs the upgraded binary
