#!/usr/bin/env python3
"""Run one command as root in a throw-away QEMU guest whose only cgroup hierarchy is cgroup v2.

    python3 tests/guest/run_in_guest.py [--timeout S] [--mem MIB] [--verbose] DIR CMD [ARG...]

DIR is copied onto a disk that the guest mounts at /work; CMD runs there (cwd /work, env
RUN_IN_GUEST=1, stdin /dev/null). Its stdout and stderr stream to our stdout byte for byte and
we exit with its status: 124 when the timeout killed the guest, 125 when the guest failed around
CMD. Our own messages go to stderr, prefixed "run_in_guest:". See tests/guest/README.md.

The guest: Debian's cloud kernel booted with cgroup_no_v1=all under QEMU TCG (no KVM needed), a
busybox initramfs that mounts the disks and chroots into a Debian root image (debootstrap) holding
what pyrunc's tests need there. The kernel and the image are built once, as root, from apt's
Debian mirror, and cached in /var/cache/pyrunc-guest/<key>/ where key is the hash of RECIPE:
change what goes in and a new image is built. Running needs neither root nor the network.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import hashlib
import json
import lzma
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("PYRUNC_GUEST_CACHE", "/var/cache/pyrunc-guest"))
GUEST_DIR = "/work"


def _host_suite() -> str:
    """The Debian release of this host (bookworm): apt's mirror has it, and its python3 is the venv's."""
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME" and value.strip('"'):
            return value.strip('"')
    return "bookworm"


# What goes into the cached kernel + root image; the hash of RECIPE names the cache entry.
SUITE = _host_suite()
KERNEL = "linux-image-cloud-amd64"  # small, and it boots under QEMU with virtio disks
BOOT_MODULES = ["virtio_pci", "virtio_blk"]  # loaded by the initramfs (with their dependencies)
PACKAGES = [
    "python3", "python3-pytest",     # the test runner (pyrunc's dependencies come staged in DIR)
    "busybox-static",                # the initramfs's busybox; tests use /bin/busybox
    "nftables", "iproute2", "kmod",  # pod networks (nft -f, ip), modprobe
    "procps", "util-linux",          # ps, kill, mount, unshare, nsenter
    "gcc", "libc6-dev",              # tests that compile a small static C helper (gcc -static)
]
# Bump "recipe" when build_image() makes something else from the same inputs.
RECIPE = {"recipe": 1, "suite": SUITE, "kernel": KERNEL, "boot_modules": BOOT_MODULES, "packages": PACKAGES}

# Loaded at boot, before the command: what pods need (overlay roots, veth pairs on a bridge) and
# what `nft -f` of pyrunc's node table needs (nat chains, dnat through maps, masquerade, fib, ct).
# The kernel would also load them on demand (see the init), but a first pod should not wait for
# half a dozen modprobe runs under emulation, and a missing module should fail here, by name.
GUEST_MODULES = "overlay veth bridge nf_tables nft_chain_nat nft_nat nft_masq nft_fib_ipv4 nft_ct"

# PID 1 of the guest, a busybox shell script in the initramfs. It stays there (so it can power
# the machine off at the end) and runs the command chrooted into the Debian root.
# Serial ports: ttyS0 the kernel console (a log file), ttyS1 the command's output (streamed to
# our stdout), ttyS2 one status line, "exit N" or "error: ...".
GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "guest-init: $*" > /dev/ttyS0; }
finish() {
    echo "$1" > /dev/ttyS2
    # stty applies its settings with TCSADRAIN, so it returns only once the UART has sent
    # everything: poweroff -f would otherwise cut off the end of the line.
    stty -F /dev/ttyS2 raw -echo
    sync
    poweroff -f
}
die() { say "error: $*"; finish "error: $*"; }

stty -F /dev/ttyS1 raw -echo || die "no serial port ttyS1"   # raw: no \n -> \r\n
stty -F /dev/ttyS2 raw -echo
for m in /modules/*.ko; do insmod "$m" || die "insmod $m failed"; done
n=0
until [ -b /dev/vdb ]; do
    n=$((n + 1)); [ $n -gt 300 ] && die "the virtio disks did not appear"
    usleep 100000
done

R=/newroot
mount -t ext4 /dev/vda $R || die "cannot mount the root disk"
[ -f $R/etc/pyrunc-guest ] || die "/dev/vda is not a pyrunc guest root image"
mount -t ext4 /dev/vdb $R@GUEST_DIR@ || die "cannot mount the work disk"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $R/sys/fs/cgroup || die "cannot mount cgroup2"
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=755 tmpfs $R/run
cp /cmd $R/run/guest-cmd
# The kernel loads modules on demand (overlay on mount, veth and bridge on `ip link add`, each
# nf_tables expression on `nft -f`) by running /proc/sys/kernel/modprobe in the root of kthreadd:
# this initramfs, which has no modules. Send those requests to the Debian root's modprobe.
printf '#!/bin/sh\nexec chroot %s /sbin/modprobe "$@"\n' $R > /bin/guest-modprobe
chmod 755 /bin/guest-modprobe
echo /bin/guest-modprobe > /proc/sys/kernel/modprobe
chroot $R /sbin/modprobe -a @MODULES@ > /dev/ttyS0 2>&1 || die "modprobe -a @MODULES@ failed"
hostname pyrunc-guest
ip link set lo up
say "booted in $(cut -d' ' -f1 /proc/uptime)s, running the command"
chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb RUN_IN_GUEST=1 \
    /bin/sh /run/guest-cmd < /dev/null > /dev/ttyS1 2>&1
rc=$?
stty -F /dev/ttyS1 raw -echo   # drains the command's output (see finish)
say "the command exited with $rc at $(cut -d' ' -f1 /proc/uptime)s"
umount $R@GUEST_DIR@
finish "exit $rc"
""".replace("@GUEST_DIR@", GUEST_DIR).replace("@MODULES@", GUEST_MODULES)


class GuestError(Exception):
    """Something around the command failed; the message is one line for the user."""


def say(msg: str) -> None:
    print(f"run_in_guest: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], what: str, log: Path | None = None, cwd: Path | None = None, input: str = "") -> None:
    """Run a build or set-up step; on failure raise GuestError with the tail of its output."""
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError:
        raise GuestError(f"{argv[0]} not found: run scripts/setup.sh --test (as root)") from None
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise GuestError(f"{what} failed (exit {proc.returncode}):\n{tail}")


# ---------------------------------------------------------------- the cached image

def image_dir() -> Path:
    key = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]
    return CACHE / key


def ensure_image(rebuild: bool = False) -> Path:
    """The cache entry (vmlinuz, busybox, modules/, rootfs.img), built first if missing."""
    dest = image_dir()
    if (dest / "rootfs.img").exists() and not rebuild:
        return dest
    if os.geteuid() != 0:
        raise GuestError(f"{dest} is not built yet and building it needs root (debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a waiting run then finds it built
        if (dest / "rootfs.img").exists() and not rebuild:
            return dest
        started = time.monotonic()
        say(f"building the guest image {dest} (a minute or two, once)")
        for stale in CACHE.glob("build.*"):  # left by a build that was killed
            remove_build_dir(stale)
        work = Path(tempfile.mkdtemp(prefix="build.", dir=CACHE))
        try:
            build_image(work)
            if dest.exists():
                shutil.rmtree(dest)
            (work / "out").rename(dest)
        finally:
            remove_build_dir(work)
        say(f"guest image built in {time.monotonic() - started:.0f} s")
    return dest


def build_image(work: Path) -> None:
    """Make work/out/{vmlinuz,busybox,modules/NN-name.ko,rootfs.img,info.json} from RECIPE."""
    root, out = work / "root", work / "out"
    (out / "modules").mkdir(parents=True)
    kernel = resolve_kernel(KERNEL)
    kver = kernel.removeprefix("linux-image-")
    run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", kernel],
        f"apt-get download {kernel}", cwd=work)
    mirror = apt_mirror()
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror],
        f"debootstrap {SUITE} from {mirror}", log=work / "debootstrap.log")
    # Unpacked aside: extracting into the root would replace its /lib symlink (merged /usr) by a directory.
    (deb,) = work.glob(f"{kernel}_*.deb")
    run(["dpkg-deb", "-x", str(deb), str(work / "kernel")], f"unpacking {deb.name}")
    shutil.copy(work / "kernel" / "boot" / f"vmlinuz-{kver}", out / "vmlinuz")
    shutil.copytree(work / "kernel" / "lib" / "modules", root / "lib" / "modules", symlinks=True, dirs_exist_ok=True)
    run(["chroot", str(root), "/sbin/depmod", kver], "depmod")
    shutil.copy(root / "bin" / "busybox", out / "busybox")
    for i, module in enumerate(module_files(root / "lib" / "modules" / kver, BOOT_MODULES)):
        data = module.read_bytes()
        if module.name.endswith(".xz"):
            data = lzma.decompress(data)  # busybox insmod takes plain .ko files only
        (out / "modules" / f"{i:02d}-{module.name.split('.')[0]}.ko").write_bytes(data)
    # No .debs or apt lists in the image.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(root / junk)
    (root / GUEST_DIR.lstrip("/")).mkdir()
    (root / "etc" / "hostname").write_text("pyrunc-guest\n")
    (root / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tpyrunc-guest\n::1\tlocalhost ip6-localhost\n")
    (root / "etc" / "resolv.conf").write_text("")  # no network in the guest; not the build host's
    info = {**RECIPE, "kernel": kernel, "mirror": mirror, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (root / "etc" / "pyrunc-guest").write_text(json.dumps(info, indent=1) + "\n")
    (out / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    make_ext4(root, out / "rootfs.img", spare_mib=512)


def resolve_kernel(meta: str) -> str:
    """The versioned kernel package the meta package depends on (linux-image-6.1.0-NN-cloud-amd64)."""
    for attempt in (1, 2):
        proc = subprocess.run(["apt-cache", "depends", meta], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            kind, _, name = line.strip().partition(": ")
            if kind == "Depends" and re.fullmatch(r"linux-image-\d\S*", name):
                return name
        if attempt == 1:
            run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-qq"], "apt-get update")
    raise GuestError(f"apt-cache cannot resolve {meta}: is it in apt's sources?")


def apt_mirror() -> str:
    """The Debian mirror apt itself uses for the suite (not the security one)."""
    proc = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE)"],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        uri, _, release = line.partition(" ")
        if release == SUITE and "security" not in uri:
            return uri
    return "http://deb.debian.org/debian"


def module_files(moddir: Path, names: list[str]) -> list[Path]:
    """The .ko files of the named modules and their dependencies, in load order (modules.dep)."""
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[Path(path).name.split(".")[0].replace("-", "_")] = [path, *reversed(rest.split())]
    builtin = (moddir / "modules.builtin").read_text()
    order: list[str] = []
    for name in names:
        if name not in deps:
            if f"/{name}.ko" in builtin:
                continue
            raise GuestError(f"kernel module {name} is neither a module nor built into the kernel")
        path, *needs = deps[name]
        for p in [*needs, path]:
            if p not in order:
                order.append(p)
    return [moddir / p for p in order]


def remove_build_dir(work: Path) -> None:
    # debootstrap mounts proc and sys in its chroot; if it was interrupted they may still be
    # there, and must not be walked into.
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mnt in sorted((m for m in mounts if m.startswith(f"{work}/")), reverse=True):
        subprocess.run(["umount", "-l", mnt], check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)


def make_ext4(src: Path, image: Path, spare_mib: int) -> None:
    """An ext4 image holding a copy of src (mkfs.ext4 -d: no mount, no loop device), sparse."""
    used = sum(f.stat().st_size for f in src.rglob("*") if f.is_file() and not f.is_symlink())
    size_mib = used * 5 // 4 // 2**20 + spare_mib
    run(["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", str(src), str(image), f"{size_mib}M"],
        f"mkfs.ext4 -d {src}")


# ---------------------------------------------------------------- one run

def make_initramfs(image: Path, run_dir: Path, argv: list[str]) -> Path:
    """busybox, the boot modules, /init and /cmd (the command) as a newc cpio archive."""
    ir = run_dir / "initramfs"
    for d in ("bin", "dev", "proc", "sys", "newroot", "modules"):
        (ir / d).mkdir(parents=True)
    shutil.copy(image / "busybox", ir / "bin" / "busybox")
    for ko in (image / "modules").iterdir():
        shutil.copy(ko, ir / "modules" / ko.name)
    (ir / "init").write_text(GUEST_INIT)
    (ir / "init").chmod(0o755)
    (ir / "cmd").write_text(f"cd {GUEST_DIR} || exit 125\nexec {shlex.join(argv)}\n")
    names = sorted(str(p.relative_to(ir)) for p in ir.rglob("*"))
    archive = run_dir / "initramfs.cpio"
    run(["cpio", "-o", "-H", "newc", "--quiet", "-O", str(archive)], "cpio", cwd=ir, input="\n".join(names) + "\n")
    return archive


def _die_with_parent() -> None:
    """In QEMU's child before exec: SIGKILL it when we die, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def boot(image: Path, run_dir: Path, initramfs: Path, timeout: float, mem: int, verbose: bool) -> int:
    console, status = run_dir / "console.log", run_dir / "status"
    qemu = [
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", str(mem),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(image / "vmlinuz"), "-initrd", str(initramfs),
        "-append", f"console=ttyS0 panic=-1 cgroup_no_v1=all{'' if verbose else ' quiet'}",
        # snapshot=on: the guest's writes to its root go to a temporary file, never to the cache.
        "-drive", f"file={image / 'rootfs.img'},if=virtio,format=raw,snapshot=on",
        "-drive", f"file={run_dir / 'work.img'},if=virtio,format=raw",
        # ttyS1 is QEMU's stdout, a pipe to us: we copy it to our stdout as it comes.
        "-serial", f"file:{console}", "-serial", "file:/dev/stdout", "-serial", f"file:{status}",
    ]
    started = time.monotonic()
    deadline = started + timeout
    timed_out = False
    with open(run_dir / "qemu.log", "wb") as qemu_log:
        try:
            proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=qemu_log,
                                    preexec_fn=_die_with_parent)
        except FileNotFoundError:
            raise GuestError("qemu-system-x86_64 not found: run scripts/setup.sh --test (as root)") from None
        assert proc.stdout is not None
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                if select.select([proc.stdout], [], [], min(left, 5))[0]:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
        finally:
            if proc.poll() is None:
                proc.kill()
            qemu_rc = proc.wait()
            proc.stdout.close()
    line = status.read_bytes().decode(errors="replace").strip() if status.exists() else ""
    log = console.read_text(errors="replace").replace("\r", "").strip()
    if verbose and log:
        say(f"the guest's kernel console:\n{log}")
    if line.startswith("exit ") and line[5:].isdigit():
        say(f"the command exited with {line[5:]} after {time.monotonic() - started:.0f} s in the guest")
        return int(line[5:])
    if log and not verbose:
        say("the end of the guest's kernel console:\n" + "\n".join(log.splitlines()[-30:]))
    qemu_err = (run_dir / "qemu.log").read_text(errors="replace").strip()
    if qemu_err:
        say(f"qemu said: {qemu_err}")
    if timed_out:
        say(f"error: the guest did not finish within {timeout:.0f} s (--timeout)")
        return 124
    raise GuestError(f"the guest failed: {line or f'no status line (qemu exit {qemu_rc}; --verbose shows the boot)'}")


def run_in_guest(src: Path, argv: list[str], timeout: float = 1200, mem: int = 1024, verbose: bool = False) -> int:
    """Copy src into a fresh guest, run argv in it, stream its output; its exit status."""
    if not src.is_dir():
        raise GuestError(f"not a directory: {src}")
    image = ensure_image()
    with tempfile.TemporaryDirectory(prefix="pyrunc-guest.") as tmp:
        run_dir = Path(tmp)
        make_ext4(src, run_dir / "work.img", spare_mib=1024)
        initramfs = make_initramfs(image, run_dir, argv)
        return boot(image, run_dir, initramfs, timeout, mem, verbose)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=1200, help="seconds before the guest is killed (exit 124)")
    parser.add_argument("--mem", type=int, default=1024, help="guest RAM in MiB")
    parser.add_argument("--verbose", action="store_true", help="show the guest's kernel console")
    parser.add_argument("--rebuild", action="store_true", help="build the cached image again first")
    parser.add_argument("dir", type=Path, help="directory copied to /work in the guest")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="command and arguments")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (finally blocks) on SIGTERM too
    if not args.cmd:
        parser.error("a command is needed")
    try:
        if args.rebuild:
            ensure_image(rebuild=True)
        return run_in_guest(args.dir, args.cmd, args.timeout, args.mem, args.verbose)
    except GuestError as e:
        say(f"error: {e}")
        return 125


if __name__ == "__main__":
    sys.exit(main())
