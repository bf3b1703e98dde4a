#!/usr/bin/env bash
# Install and start contrib/pyrunc.service: the supervisor as a systemd service with the static pods of
# /etc/pyrunc/manifests. Idempotent (re-run after pulling changes: the daemon is restarted, its pods stay).
# Usage (as root, after `make setup`): scripts/install-service.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "error: installing the pyrunc service needs root (try: sudo make install-service)" >&2
  exit 1
fi
if [ ! -x /usr/local/bin/pyrunc ]; then
  # `make setup` puts pyrunc on root's PATH; a checkout set up before it did gets the same link here.
  [ -x .venv/bin/pyrunc ] || { echo "error: run 'make setup' first" >&2; exit 1; }
  ln -sfn "$(pwd)/.venv/bin/pyrunc" /usr/local/bin/pyrunc
fi
install -d -m 0755 /etc/pyrunc/manifests
install -m 0644 contrib/pyrunc.service /etc/systemd/system/pyrunc.service
systemctl daemon-reload
systemctl enable -q pyrunc.service
systemctl restart pyrunc.service  # KillMode=process: running pods are left to the new daemon
echo "pyrunc.service is running; static pods: put manifests in /etc/pyrunc/manifests (journalctl -u pyrunc)"
