#!/usr/bin/env bash
# The demo: run the classic two-container sidecar pod, show that its containers share the pod, delete it.
set -euo pipefail
cd "$(dirname "$0")/.."
# `make setup` put pyrunc on PATH (PYRUNC overrides it: the test of this script runs its own checkout's).
pyrunc=${PYRUNC:-pyrunc}
root=${PYRUNC_ROOT:-/run/pyrunc}  # pyrunc reads PYRUNC_ROOT too (tests/integration/test_demo.py runs this in a root of its own)
pod=sidecar-pair
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

cleanup() { "$pyrunc" delete pod "$pod" --grace-period=0 --force --ignore-not-found >/dev/null 2>&1 || true; }
trap cleanup EXIT

run "$pyrunc" apply -f examples/sidecar-pair.yaml
run "$pyrunc" wait pod/$pod --for=condition=Ready --timeout=60s
run "$pyrunc" get pods -o wide
sleep 3
ip=$("$pyrunc" get pod $pod -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["podIP"])')
say "2nd appends the date to a shared emptyDir; 1st serves it over HTTP on the pod's IP ($ip), fetched from the host:"
python3 -c "import urllib.request as u; print(u.build_opener(u.ProxyHandler({})).open('http://$ip/index.html', timeout=10).read().decode(), end='')"
run "$pyrunc" exec $pod -c 1st -- wget -qO- http://localhost/index.html
say "one network, IPC and UTS namespace for the pod, a mount namespace per container (from the host):"
for c in 1st 2nd; do
  pid=$(python3 -c "import json,sys; print(json.load(open('$root/pods/default_$pod/containers/$c/container.json'))['pid'])")
  printf '  %-4s pid %-7s' "$c" "$pid"
  for ns in net ipc uts mnt pid; do printf ' %s=%s' "$ns" "$(readlink /proc/$pid/ns/$ns | tr -dc 0-9)"; done
  echo
done
run "$pyrunc" exec $pod -c 2nd -- hostname
run "$pyrunc" describe pod $pod
run "$pyrunc" delete pod $pod
run "$pyrunc" get pods
trap - EXIT
