#!/usr/bin/env bash
# The tools `make test` needs beyond Go, make and gcc, checked first and
# installed from Debian when missing, so that the README's test command is
# the whole set-up on a fresh Debian machine. It says what it will do, and
# that it needs root, before doing anything.
#
#   systemd-analyze, systemd-sysusers  systemd            unit file tests (systemd/)
#   systemd-nspawn                     systemd-container  boots the units under a real systemd
#   podman, runc                       podman, runc       builds and runs the image (deploy/image)
#   gcc                                gcc                go test -race needs cgo
#   azurite-blob                       npm azurite@3.37.0 Microsoft's Storage emulator: the derived-value
#                                                         tests' real consumer (sync/derive, e2e);
#   npm (and Node.js)                  npm                installs Azurite, when it is missing
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have gcc || need+=(gcc)
have systemd-analyze && have systemd-sysusers || need+=(systemd)
have systemd-nspawn || need+=(systemd-container)
have podman || need+=(podman)
have runc || need+=(runc)
need_azurite=
if ! have azurite-blob; then
  need_azurite=1
  have npm || need+=(npm) # Debian's npm brings Node.js
fi

# The boot test (systemd-nspawn) and the image test (podman, runc) run
# containers: they need root whether or not anything is missing.
if [ "$(id -u)" -ne 0 ]; then
  echo "make test needs root: the boot test (systemd/) and the image test (deploy/image) run systemd-nspawn, podman and runc${need:+, and these Debian packages are missing: ${need[*]}}." >&2
  echo "Run it as root, e.g.: sudo env PATH=\"\$PATH\" make test" >&2
  exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
  if ! have apt-get; then
    echo "make test needs these Debian packages, and this machine has no apt-get: ${need[*]}; install their equivalents and run make test again." >&2
    exit 1
  fi
  echo "make test: installing the Debian packages the tests need (as root): ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  echo "make test: installed ${need[*]}"
fi
if [ -n "$need_azurite" ]; then
  echo "make test: installing Azurite, the Azure Storage emulator the derived-value tests use"
  npm install -g azurite@3.37.0 >/dev/null
fi
