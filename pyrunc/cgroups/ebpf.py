"""Loading a cgroup device program with the bpf() syscall and attaching it to a cgroup v2 directory.

cgroup v2 has no devices.allow file: the kernel asks every BPF_PROG_TYPE_CGROUP_DEVICE program attached
to the task's cgroup and to its ancestors, and refuses the access unless all of them return 1. The
program stays attached for the life of the cgroup and goes with it, so nothing is pinned or kept open.

Programs are attached with BPF_F_ALLOW_MULTI, as runc does, so a program on an ancestor (a systemd
slice, say) still applies. Replacing one (a second start in an existing group) attaches the new
program before detaching the old ones: in between both apply, which can only refuse more, never less.

bpf() is called through libc's syscall(); union bpf_attr is packed by hand (linux/bpf.h), passing only
the leading fields each command uses (the kernel zero-fills the rest of its copy). Since Linux 5.11
BPF memory is charged to the memory cgroup, not RLIMIT_MEMLOCK, so the limit is left alone (raising it
in the supervisor would also raise it for every container it forks).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from pyrunc.errors import CgroupError
from pyrunc.linux import syscalls as sc

# bpf() is not in the generic syscall table on every architecture (asm/unistd.h of each).
BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}

# Commands, types and flags (linux/bpf.h).
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# Cgroup device programs call no helper, so any licence string loads; this is the project's.
LICENSE = b"Apache-2.0\0"
PROG_NAME = b"pyrunc_devices"  # shown by bpftool; at most 15 characters
LOG_SIZE = 256 * 1024
MAX_PROGRAMS = 64  # the kernel's limit of programs per cgroup and attach type


def _syscall_number() -> int:
    try:
        return sc.syscall_number(BPF_SYSCALL, "bpf")
    except OSError as e:
        raise CgroupError(f"cannot restrict devices on cgroup v2: {e.strerror}") from None


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    """bpf(cmd, attr, sizeof attr); the result, or OSError with the errno."""
    try:
        return sc.syscall(_syscall_number(), ctypes.c_long(cmd), ctypes.c_void_p(ctypes.addressof(attr)),
                          ctypes.c_long(len(attr)), what="bpf")
    except OSError as e:
        raise OSError(e.errno, os.strerror(e.errno or 0)) from None


def load_device_program(program: bytes) -> int:
    """BPF_PROG_LOAD; the program's fd. A refusal is retried with a verifier log, quoted in the error."""
    if not program or len(program) % 8:
        raise CgroupError(f"a BPF program is a whole number of 8-byte instructions, not {len(program)} bytes")
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(LICENSE, len(LICENSE))

    def load(log: ctypes.Array[ctypes.c_char] | None) -> int:
        attr = ctypes.create_string_buffer(struct.pack(
            "<IIQQIIQII16sII",
            BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8, ctypes.addressof(insns), ctypes.addressof(license_),
            1 if log is not None else 0, len(log) if log is not None else 0,
            ctypes.addressof(log) if log is not None else 0,
            0, 0, PROG_NAME, 0, 0), 72)
        return _bpf(BPF_PROG_LOAD, attr)

    try:
        return load(None)
    except OSError as first:
        log = ctypes.create_string_buffer(LOG_SIZE)
        try:
            return load(log)  # a transient failure may pass the second time; fine too
        except OSError:
            pass
        text = log.value.decode(errors="replace").strip()
        hint = "; the kernel needs CONFIG_CGROUP_BPF" if first.errno == errno.EINVAL and not text else ""
        raise CgroupError(f"cannot load the device cgroup BPF program: {first.strerror}{hint}"
                          + (f"; verifier log:\n{text}" if text else "")) from first


def attached_program_ids(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached to this cgroup itself (not those inherited from ancestors)."""
    count = MAX_PROGRAMS
    for _ in range(4):
        ids = (ctypes.c_uint32 * count)()
        attr = ctypes.create_string_buffer(struct.pack(
            "<IIIIQI4x", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), count), 32)
        try:
            _bpf(BPF_PROG_QUERY, attr)
        except OSError as e:
            if e.errno == errno.ENOSPC:  # more than we made room for: prog_cnt now says how many
                count = struct.unpack_from("<I", attr, 24)[0]
                continue
            raise
        return list(ids[: struct.unpack_from("<I", attr, 24)[0]])
    raise OSError(errno.ENOSPC, "the list of attached device programs keeps growing")


def _program_fd(prog_id: int) -> int:
    return _bpf(BPF_PROG_GET_FD_BY_ID, ctypes.create_string_buffer(struct.pack("<III", prog_id, 0, 0), 12))


def _attach_attr(cgroup_fd: int, prog_fd: int, flags: int) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(struct.pack("<IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, flags, 0), 20)


def set_device_program(cgroup_dir: str, program: bytes) -> None:
    """Make ``program`` the one device program of the cgroup v2 directory (replacing earlier ones)."""
    try:
        cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"cannot open cgroup {cgroup_dir}: {e.strerror}", path=cgroup_dir) from e
    try:
        step = "list the device programs of"
        old = attached_program_ids(cgroup_fd)
        prog_fd = load_device_program(program)
        try:
            step = "attach the device program to"
            _bpf(BPF_PROG_ATTACH, _attach_attr(cgroup_fd, prog_fd, BPF_F_ALLOW_MULTI))
        finally:
            os.close(prog_fd)  # the attachment holds its own reference
        step = "detach the previous device program from"
        for prog_id in old:
            try:
                old_fd = _program_fd(prog_id)
            except FileNotFoundError:  # gone meanwhile
                continue
            try:
                _bpf(BPF_PROG_DETACH, _attach_attr(cgroup_fd, old_fd, 0))
            finally:
                os.close(old_fd)
    except OSError as e:
        raise CgroupError(f"cannot {step} cgroup {cgroup_dir}: {e.strerror}", path=cgroup_dir) from e
    finally:
        os.close(cgroup_fd)
