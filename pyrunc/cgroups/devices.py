"""The device cgroup of a container: the rules as data, as cgroup v1 writes, and as a cgroup v2 BPF program.

Pure: nothing here touches the kernel (pyrunc/cgroups/ebpf.py loads and attaches the program).

Which devices a Kubernetes container may use (containerd's CRI plugin + runc 1.1, checked in their sources):
- containerd's default spec denies everything (`linux.resources.devices: [{allow: false, access: rwm}]`);
  for a privileged container its CRI plugin allows everything instead (`[{allow: true, access: rwm}]`).
- runc then appends its built-in allow-list (libcontainer/specconv AllowedDevices) to whatever the spec says:
  mknod of any character or block device (creating a node is harmless, opening it is what the rules guard),
  /dev/null, zero, full, random, urandom, tty, the devpts slaves (major 136) and ptmx (5:2), and tun (10:200;
  runc 1.2.0 dropped it, 1.2.4 put it back after the regressions). /dev/console (5:1) is not in the list:
  runc only adds it as a bind mount of the pty for a container with a terminal.
So an ordinary container gets "deny all, then that list" and a privileged one "allow all".

The rules keep cgroup v1's meaning on both versions: an access is allowed when one exception covers all of
it (its type, major and minor match, wildcards included, and the requested accesses are a subset of the
rule's), otherwise the default applies. The v2 program below is built to answer exactly that.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from collections.abc import Sequence  # annotations only: collections is an import more for pyrunc-oci
    from typing import NamedTuple
else:
    from pyrunc.records import NamedTuple

WILDCARD = None  # a major or minor that matches any number (written "*")
ACCESS_ALL = "rwm"


class _Rule(NamedTuple):
    kind: str
    major: int | None
    minor: int | None
    access: str
    allow: bool


class DeviceRule(_Rule):
    """One line of the device cgroup: `kind major:minor access`, allowed or denied.

    ``kind`` is "a" (all devices), "c" (character) or "b" (block); major/minor None = "*". An "a" rule
    is always `a *:* rwm`: cgroup v1 reads any line starting with "a" as "every device", whatever follows.

    A NamedTuple checked in __new__, not a dataclass: pyrunc-oci's create loads this module, and dataclasses
    (with inspect, ast, dis, tokenize) was ~7 ms of it.
    """

    __slots__ = ()

    def __new__(cls, kind: str, major: int | None, minor: int | None, access: str, allow: bool) -> DeviceRule:
        if kind not in ("a", "c", "b"):
            raise ValueError(f"device rule type must be a, c or b, not {kind!r}")
        letters = set(access)
        if not access or not letters <= set(ACCESS_ALL) or len(letters) != len(access):
            raise ValueError(f"device rule access must be letters of {ACCESS_ALL!r}, not {access!r}")
        if kind == "a" and (major is not None or minor is not None or letters != set(ACCESS_ALL)):
            raise ValueError("an 'a' device rule covers every device: 'a *:* rwm'")
        for number in (major, minor):
            # The BPF program compares with a signed 32-bit immediate; device numbers are far below.
            if number is not None and not 0 <= number < 2**31:
                raise ValueError(f"device number {number} out of range")
        return super().__new__(cls, kind, major, minor, access, allow)

    def cgroup_string(self) -> str:
        """The rule as cgroup v1 reads and writes it (`c 1:3 rwm`, `a *:* rwm`); access in r, w, m order."""
        numbers = f"{_star(self.major)}:{_star(self.minor)}"
        return f"{self.kind} {numbers} {''.join(a for a in ACCESS_ALL if a in self.access)}"


def _star(number: int | None) -> str:
    return "*" if number is None else str(number)


def _allow(kind: str, major: int | None, minor: int | None, access: str = ACCESS_ALL) -> DeviceRule:
    return DeviceRule(kind, major, minor, access, allow=True)


DENY_ALL = DeviceRule("a", WILDCARD, WILDCARD, ACCESS_ALL, allow=False)
ALLOW_ALL = DeviceRule("a", WILDCARD, WILDCARD, ACCESS_ALL, allow=True)

# runc 1.1's built-in list, in its order (the nodes mount_dev creates are among them).
DEFAULT_ALLOWED: tuple[DeviceRule, ...] = (
    _allow("c", WILDCARD, WILDCARD, "m"),  # mknod of any character device
    _allow("b", WILDCARD, WILDCARD, "m"),  # mknod of any block device
    _allow("c", 1, 3),  # /dev/null
    _allow("c", 1, 8),  # /dev/random
    _allow("c", 1, 7),  # /dev/full
    _allow("c", 5, 0),  # /dev/tty
    _allow("c", 1, 5),  # /dev/zero
    _allow("c", 1, 9),  # /dev/urandom
    _allow("c", 136, WILDCARD),  # /dev/pts/N
    _allow("c", 5, 2),  # /dev/ptmx
    _allow("c", 10, 200),  # /dev/net/tun
)


def container_rules(privileged: bool) -> tuple[DeviceRule, ...]:
    """The device rules of one container, first rule = the default: deny all + runc's list, or allow all."""
    if privileged:
        return (ALLOW_ALL,)
    return (DENY_ALL, *DEFAULT_ALLOWED)


def v1_writes(rules: Sequence[DeviceRule]) -> list[tuple[str, str]]:
    """(file, value) to write in order into a v1 devices group: the first "a" rule resets the group
    (deny: an empty allow-list; allow: everything), each further rule adds an exception."""
    return [("devices.allow" if r.allow else "devices.deny", "a" if _is_everything(r) else r.cgroup_string())
            for r in rules]


def _is_everything(rule: DeviceRule) -> bool:
    return rule.kind == "a"  # always "a *:* rwm" (checked when the rule is made)


def split_default(rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> tuple[bool, list[DeviceRule]]:
    """(default allow?, exceptions): the first rule must be "a *:* rwm"; every later rule must do the
    opposite of it. That is the only shape pyrunc produces, and on it v1 and v2 agree without an
    emulation of v1's exception bookkeeping (what a rule that agrees with the default would remove)."""
    if not rules or not _is_everything(rules[0]):
        raise ValueError("the first device rule must be 'a *:* rwm' (the default)")
    default = rules[0].allow
    for rule in rules[1:]:
        if rule.kind == "a":
            raise ValueError("only the first device rule may be 'a *:* rwm'")
        if rule.allow == default:
            raise ValueError(f"device rule {rule.cgroup_string()!r} repeats the default action")
    return default, list(rules[1:])


# ---------------------------------------------------------------------------------------------- eBPF
# A cgroup device program gets a `struct bpf_cgroup_dev_ctx` in r1 (linux/bpf.h):
#   u32 access_type  (low 16 bits: BPF_DEVCG_DEV_*, high 16 bits: BPF_DEVCG_ACC_* of this request)
#   u32 major
#   u32 minor
# and returns 1 to allow the access, 0 to refuse it (EPERM for the caller).
DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# Opcodes (linux/bpf_common.h, linux/bpf.h): class | operation | source.
BPF_LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
BPF_ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: dst32 &= imm
BPF_ALU_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K: dst32 >>= imm
BPF_ALU_MOV_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K: dst32 = imm
BPF_ALU_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X: dst32 = src32
BPF_JMP_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto pc + 1 + off
BPF_JMP_EXIT = 0x95  # BPF_JMP | BPF_EXIT: return r0

# Registers: r0 return value and scratch, r1 the context, r2 type, r3 access, r4 major, r5 minor.
R0, R1, R2, R3, R4, R5 = range(6)


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One `struct bpf_insn` (8 bytes, little-endian): u8 code, u8 dst:4|src:4 (dst in the low nibble
    on little-endian hosts), s16 off, s32 imm. ``imm`` may be given as an unsigned 32-bit value."""
    if imm >= 2**31:
        imm -= 2**32
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _rule_block(rule: DeviceRule) -> list[tuple[int, int, int, int, bool]]:
    """The tests of one exception, then its verdict; each test is (code, dst, src, imm, jumps-to-next)."""
    tests = [(BPF_JMP_JNE_K, R2, 0, DEV_CHAR if rule.kind == "c" else DEV_BLOCK, True)]
    if set(rule.access) != set(ACCESS_ALL):
        # Every requested access must be in the rule: r0 = access & ~allowed, must be 0. Unknown
        # future bits survive the mask too, so they never match a partial rule.
        mask = sum(ACCESS_BITS[a] for a in rule.access)
        tests += [(BPF_ALU_MOV_X, R0, R3, 0, False), (BPF_ALU_AND_K, R0, 0, ~mask & 0xFFFFFFFF, False),
                  (BPF_JMP_JNE_K, R0, 0, 0, True)]
    if rule.major is not None:
        tests.append((BPF_JMP_JNE_K, R4, 0, rule.major, True))
    if rule.minor is not None:
        tests.append((BPF_JMP_JNE_K, R5, 0, rule.minor, True))
    return [*tests, (BPF_ALU_MOV_K, R0, 0, int(rule.allow), False), (BPF_JMP_EXIT, 0, 0, 0, False)]


def device_program(rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> bytes:
    """The BPF_PROG_TYPE_CGROUP_DEVICE program for ``rules`` (see split_default for their shape).

    Layout: load type, access, major, minor into r2..r5; then one block per exception, where any test
    that fails jumps to the next block and a block whose tests all pass returns the exception's verdict;
    the last block returns the default.
    """
    default, exceptions = split_default(rules)
    out = [
        insn(BPF_LDX_MEM_W, R2, R1, 0),
        insn(BPF_ALU_AND_K, R2, imm=0xFFFF),
        insn(BPF_LDX_MEM_W, R3, R1, 0),
        insn(BPF_ALU_RSH_K, R3, imm=16),
        insn(BPF_LDX_MEM_W, R4, R1, 4),
        insn(BPF_LDX_MEM_W, R5, R1, 8),
    ]
    for rule in exceptions:
        block = _rule_block(rule)
        for i, (code, dst, src, imm, jumps) in enumerate(block):
            # A jump's offset counts from the instruction after it: to the first one of the next block.
            out.append(insn(code, dst, src, len(block) - (i + 1) if jumps else 0, imm))
    out += [insn(BPF_ALU_MOV_K, R0, imm=int(default)), insn(BPF_JMP_EXIT)]
    return b"".join(out)

