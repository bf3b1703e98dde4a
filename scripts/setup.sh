#!/usr/bin/env bash
# Idempotent set-up of pyrunc on a Debian/Ubuntu machine, as root:
#   Debian packages, a virtualenv in .venv with the package, and the built-in busybox image.
# Usage: scripts/setup.sh [--test]   (--test adds what the test suite needs: QEMU for the cgroup v2 guest)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "error: pyrunc's set-up needs root (try: sudo make setup)" >&2
  exit 1
fi

packages=(busybox-static nftables iproute2 libcap-dev libseccomp2 python3-venv python3-dev gcc make util-linux procps ca-certificates)
if [ "${1:-}" = "--test" ]; then
  # The cgroup v2 tests boot a QEMU guest built with debootstrap (tests/guest/README.md); ping for tests;
  # libc6-dev for the static syscall probe the seccomp tests build with gcc.
  packages+=(qemu-system-x86 debootstrap cpio e2fsprogs iputils-ping libc6-dev)
  # The image tests: a real registry on loopback (docker-registry) and skopeo/umoci to push and pack images.
  packages+=(docker-registry skopeo umoci)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.pyrunc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # compat mode: a plain .pth path entry; the default finder hook costs ~40 ms on every pyrunc start
  .venv/bin/python -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
  touch "$stamp"
fi

# Byte-compile now: a user's environment may forbid writing .pyc files (PYTHONDONTWRITEBYTECODE), and
# compiling pyrunc's modules on every command would cost more than running it.
.venv/bin/python -m compileall -q pyrunc

sh scripts/builtin-image.sh .venv/bin/pyrunc
echo "pyrunc is set up: $(pwd)/.venv/bin/pyrunc"
