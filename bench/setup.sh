#!/bin/sh
# Install and prepare the peers bench/run.py compares pyrunc with (podman, runc, crun), and what
# its pull measure needs (skopeo: a peer and the tool that pushes the image; docker-registry: the
# loopback registry it pulls from).
# Run as root on Debian 12; idempotent. Each step says why it is needed.
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/setup.sh: must run as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
missing=""
for pkg in podman runc crun conmon catatonit busybox-static skopeo docker-registry; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    apt-get update -q
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    apt-get install -y -q --no-install-recommends $missing
fi

# crun (podman's default runtime) refuses a hybrid cgroup layout while any controller is
# enabled in the cgroup2 mount ("cgroups in hybrid mode not supported"). On this machine
# kind that controller is hugetlb: mounting it as a v1 hierarchy takes it out of cgroup2.
# Not persistent across reboots, so bench/run.py checks it again.
unified=/sys/fs/cgroup/unified
if [ -f "$unified/cgroup.controllers" ] && grep -qw hugetlb "$unified/cgroup.controllers"; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    echo "moved hugetlb from cgroup2 to /sys/fs/cgroup/hugetlb (for crun)"
fi

echo "bench peers ready: podman $(podman --version | cut -d' ' -f3), runc $(runc --version | head -n1 | cut -d' ' -f3), crun $(crun --version | head -n1 | cut -d' ' -f3), skopeo $(skopeo --version | cut -d' ' -f3)"
