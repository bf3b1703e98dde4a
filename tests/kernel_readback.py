"""What the kernel holds, read back for the tests: a cgroup's device programs, a process's dumpable flag."""

from __future__ import annotations

import ctypes
import os
import struct

from pyrunc.cgroups import ebpf
from pyrunc.linux import syscalls as sc

PR_GET_DUMPABLE = 3  # linux/prctl.h
BPF_OBJ_GET_INFO_BY_FD = 15  # linux/bpf.h


def is_dumpable() -> bool:
    return bool(sc.prctl(PR_GET_DUMPABLE, what="prctl(PR_GET_DUMPABLE)"))


def attached_programs(cgroup_dir: str) -> list[bytes]:
    """The instructions of each device program attached to the cgroup v2 directory, as the kernel
    holds them after verification: what is enforced, read back."""
    cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        programs = []
        for prog_id in ebpf.attached_program_ids(cgroup_fd):
            prog_fd = ebpf._program_fd(prog_id)
            try:
                # struct bpf_prog_info: u32 type, u32 id, u8 tag[8], u32 jited_prog_len,
                # u32 xlated_prog_len, u64 jited_prog_insns, u64 xlated_prog_insns, ...
                insns = ctypes.create_string_buffer(64 * 1024)
                info = ctypes.create_string_buffer(struct.pack(
                    "<II8sIIQQ", 0, 0, b"", 0, len(insns), 0, ctypes.addressof(insns)), 256)
                ebpf._bpf(BPF_OBJ_GET_INFO_BY_FD, ctypes.create_string_buffer(
                    struct.pack("<IIQ", prog_fd, len(info), ctypes.addressof(info)), 16))
                programs.append(insns.raw[: struct.unpack_from("<I", info, 20)[0]])
            finally:
                os.close(prog_fd)
        return programs
    finally:
        os.close(cgroup_fd)
