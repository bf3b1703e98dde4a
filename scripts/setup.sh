#!/usr/bin/env bash
# Idempotent set-up of pyrunc on a Debian/Ubuntu machine, as root:
#   Debian packages, a virtualenv in .venv with the package, `pyrunc` on root's PATH (a link in
#   /usr/local/bin, which sudo's secure_path has on Debian), its bash completion, and the built-in
#   busybox image.
# Usage: scripts/setup.sh [--test]
#   Without --test: only what running pyrunc needs (and building its Python dependencies).
#   --test adds the test tools: Debian packages (QEMU for the cgroup v2 guest, a registry, ...) and the
#   package's `test` extra (pytest, hypothesis, mypy, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "error: pyrunc's set-up needs root (try: sudo make setup)" >&2
  exit 1
fi

# Running: busybox-static (the built-in image), nftables and iproute2 (pod network), libseccomp2 (seccomp,
# loaded by pyseccomp), util-linux and procps (mount, nsenter, ps), ca-certificates (registries over
# HTTPS); python3-venv; libcap-dev, python3-dev and gcc build python-prctl, which has no wheel.
packages=(busybox-static nftables iproute2 libcap-dev libseccomp2 python3-venv python3-dev gcc make util-linux procps ca-certificates)
extra="[cri]"
if [ "${1:-}" = "--test" ]; then
  extra="[test,cri]"
  # The cgroup v2 tests boot a QEMU guest built with debootstrap (tests/guest/README.md); ping for tests;
  # libc6-dev for the static syscall probe the seccomp tests build with gcc.
  packages+=(qemu-system-x86 debootstrap cpio e2fsprogs iputils-ping libc6-dev)
  # The image tests: a real registry on loopback (docker-registry) and skopeo/umoci to push and pack images.
  packages+=(docker-registry skopeo umoci)
  # The pyrunc-oci tests run the same bundles with Debian's runc and compare (tests/integration/test_oci.py).
  packages+=(runc)
  # ... and podman drives pyrunc-oci as its runtime (tests/integration/test_oci_podman.py; conmon comes with it).
  packages+=(podman)
  # ... and containerd's runc shim does (tests/integration/test_oci_containerd.py starts a containerd of its
  # own, on a private socket; the package brings ctr and containerd-shim-runc-v2). A containerd already
  # there (Docker's containerd.io, which conflicts with Debian's package) serves as well.
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    packages+=(containerd)
  fi
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
  # Debian's containerd enables and starts containerd.service where systemd runs. The tests need no system
  # containerd, and one would keep running (and holding /run/containerd) on a test machine: the service
  # installed just now is stopped and disabled; a containerd that was there before is left alone.
  if [[ " ${missing[*]} " == *" containerd "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now containerd.service >/dev/null 2>&1 || true
  fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# One stamp per set of extras: `make setup` after `make test` keeps the test tools (it never removes).
stamp=.venv/.pyrunc-installed${1:+-test}
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # compat mode: a plain .pth path entry; the default finder hook costs ~40 ms on every pyrunc start
  .venv/bin/python -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e ".$extra"
  touch "$stamp"
fi

# The CRI server's code, generated from pyrunc/cri/api.proto by the grpcio-tools just installed (pyrunc/cri/codegen.py).
.venv/bin/python -m pyrunc.cri.codegen

# Byte-compile now: a user's environment may forbid writing .pyc files (PYTHONDONTWRITEBYTECODE), and
# compiling pyrunc's modules on every command would cost more than running it.
.venv/bin/python -m compileall -q pyrunc

# `pyrunc` on root's PATH, as kubectl is: a link to this checkout's entry point (sudo's secure_path on
# Debian has /usr/local/bin). A link that points elsewhere (another checkout) is replaced, and said so;
# a file that is not a link is someone else's and is left alone.
# The link goes to the launcher (scripts/write-launcher.sh: Python started with -IS, ~6 ms less on every command
# than pip's console script, which stays in .venv/bin/pyrunc).
bin=/usr/local/bin/pyrunc
want="$(pwd)/.venv/bin/pyrunc-launcher"
sh scripts/write-launcher.sh "$(pwd)/.venv/bin/python3" "$(pwd)" "$want"
sh scripts/link-tool.sh "$want" "$bin"
# pyrunc-oci too (what `podman --runtime $(which pyrunc-oci)` finds), through a launcher of its own.
sh scripts/write-launcher.sh "$(pwd)/.venv/bin/python3" "$(pwd)" "$(pwd)/.venv/bin/pyrunc-oci-launcher" oci
sh scripts/link-tool.sh "$(pwd)/.venv/bin/pyrunc-oci-launcher" /usr/local/bin/pyrunc-oci
# Bash completion (kubectl's shape): verbs, flags and pod names.
mkdir -p /etc/bash_completion.d
.venv/bin/pyrunc completion bash >/etc/bash_completion.d/pyrunc.tmp
mv /etc/bash_completion.d/pyrunc.tmp /etc/bash_completion.d/pyrunc

sh scripts/builtin-image.sh .venv/bin/pyrunc
echo "pyrunc is set up: $bin -> $want (bash completion: /etc/bash_completion.d/pyrunc)"
