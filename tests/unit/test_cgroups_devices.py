"""The device rules as data, their cgroup v1 writes, and the cgroup v2 BPF program (pure, no kernel).

The program is checked twice: byte for byte against encodings worked out by hand from linux/bpf.h
for small rule sets, and by running it in a tiny interpreter written here (only the opcodes a device
program needs) over every combination of type, access and a spread of device numbers, against
cgroup v1's rule, also written here: allowed when one exception covers the whole request.
"""

from __future__ import annotations

import itertools
import struct

import pytest

from pyrunc.cgroups.devices import (
    ALLOW_ALL,
    DENY_ALL,
    DeviceRule,
    container_rules,
    device_program,
    insn,
    split_default,
    v1_writes,
)

# runc 1.1's AllowedDevices as cgroup v1 lists them (libcontainer/specconv/spec_linux.go).
RUNC_ALLOW_LIST = [
    "c *:* m", "b *:* m",
    "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm",
    "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
]


def test_an_ordinary_container_denies_all_then_allows_runc_s_list() -> None:
    rules = container_rules(privileged=False)
    assert rules[0] == DENY_ALL
    assert all(r.allow for r in rules[1:])
    assert [r.cgroup_string() for r in rules[1:]] == RUNC_ALLOW_LIST


def test_a_privileged_container_allows_every_device() -> None:
    assert container_rules(privileged=True) == (ALLOW_ALL,)
    assert ALLOW_ALL.cgroup_string() == "a *:* rwm"


def test_v1_writes_reset_the_group_first() -> None:
    writes = v1_writes(container_rules(privileged=False))
    assert writes[0] == ("devices.deny", "a")
    assert writes[1:] == [("devices.allow", line) for line in RUNC_ALLOW_LIST]
    assert v1_writes(container_rules(privileged=True)) == [("devices.allow", "a")]


def test_access_letters_are_written_in_kernel_order() -> None:
    assert DeviceRule("b", 8, None, "mwr", True).cgroup_string() == "b 8:* rwm"
    assert DeviceRule("c", None, 4, "wm", False).cgroup_string() == "c *:4 wm"


@pytest.mark.parametrize("kwargs", [
    dict(kind="x", major=1, minor=1, access="r"),
    dict(kind="c", major=1, minor=1, access=""),
    dict(kind="c", major=1, minor=1, access="rx"),
    dict(kind="c", major=1, minor=1, access="rr"),
    dict(kind="c", major=-1, minor=1, access="r"),
    dict(kind="c", major=1, minor=2**31, access="r"),
    dict(kind="a", major=1, minor=None, access="rwm"),
    dict(kind="a", major=None, minor=None, access="r"),
])
def test_malformed_rules_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        DeviceRule(allow=True, **kwargs)


def test_the_program_needs_a_default_and_exceptions_that_differ_from_it() -> None:
    allow = DeviceRule("c", 1, 3, "rwm", True)
    with pytest.raises(ValueError, match="first device rule"):
        split_default([allow])
    with pytest.raises(ValueError, match="repeats the default"):
        split_default([ALLOW_ALL, allow])
    with pytest.raises(ValueError, match="only the first"):
        split_default([DENY_ALL, ALLOW_ALL])
    assert split_default([DENY_ALL, allow]) == (False, [allow])


# -- encodings ---------------------------------------------------------------------------------

def test_one_instruction_encoding() -> None:
    # r2 = *(u32 *)(r1 + 4): code 0x61, dst 2 in the low nibble, src 1 in the high one, off 4.
    assert insn(0x61, 2, 1, 4) == bytes.fromhex("61 12 0400 00000000")
    # if r0 != 0 goto +2; a negative immediate is two's complement.
    assert insn(0x55, 0, 0, 2, -2) == bytes.fromhex("55 00 0200 feffffff")
    assert insn(0x54, 0, imm=0xFFFFFFFE) == bytes.fromhex("54 00 0000 feffffff")


PROLOGUE = bytes.fromhex(
    "61 12 0000 00000000"  # r2 = *(u32 *)(r1 + 0)     access_type
    "54 02 0000 ffff0000"  # w2 &= 0xffff                 -> device type
    "61 13 0000 00000000"  # r3 = *(u32 *)(r1 + 0)
    "74 03 0000 10000000"  # w3 >>= 16                    -> requested access
    "61 14 0400 00000000"  # r4 = *(u32 *)(r1 + 4)     major
    "61 15 0800 00000000"  # r5 = *(u32 *)(r1 + 8)     minor
)


def test_program_for_one_full_access_rule() -> None:
    program = device_program([DENY_ALL, DeviceRule("c", 1, 3, "rwm", True)])
    assert program == PROLOGUE + bytes.fromhex(
        "55 02 0400 02000000"  # if r2 != 2 (char) goto +4 (the default)
        "55 04 0300 01000000"  # if r4 != 1 goto +3
        "55 05 0200 03000000"  # if r5 != 3 goto +2
        "b4 00 0000 01000000"  # w0 = 1
        "95 00 0000 00000000"  # exit
        "b4 00 0000 00000000"  # w0 = 0 (deny by default)
        "95 00 0000 00000000"  # exit
    )


def test_program_for_a_wildcard_rule_with_partial_access() -> None:
    program = device_program([DENY_ALL, DeviceRule("b", None, None, "m", True)])
    assert program == PROLOGUE + bytes.fromhex(
        "55 02 0500 01000000"  # if r2 != 1 (block) goto +5
        "bc 30 0000 00000000"  # w0 = w3
        "54 00 0000 feffffff"  # w0 &= ~1 (mknod)
        "55 00 0200 00000000"  # if r0 != 0 goto +2: asked for more than mknod
        "b4 00 0000 01000000"  # w0 = 1
        "95 00 0000 00000000"  # exit
        "b4 00 0000 00000000"
        "95 00 0000 00000000"
    )


def test_program_allowing_everything_is_two_instructions_after_the_loads() -> None:
    assert device_program([ALLOW_ALL]) == PROLOGUE + bytes.fromhex("b4 00 0000 01000000 95 00 0000 00000000")


# -- behaviour ---------------------------------------------------------------------------------

DEV_TYPE = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}


def run_program(program: bytes, access_type: int, major: int, minor: int) -> int:
    """Interpret a device program (the opcodes device_program emits; anything else fails the test)."""
    ctx = struct.pack("<III", access_type, major, minor)
    regs = [0] * 11
    regs[1] = -1  # the context pointer: only loads through it are allowed
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    pc = 0
    for _ in range(10_000):
        code, r, off, imm = insns[pc]
        dst, src = r & 0xF, r >> 4
        pc += 1
        if code == 0x61:
            assert regs[src] == -1, "load from something other than the context"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == 0xB4:
            regs[dst] = imm & 0xFFFFFFFF
        elif code == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == 0x55:
            if regs[dst] != (imm & 0xFFFFFFFFFFFFFFFF if imm < 0 else imm):
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("the program does not end")


def v1_answer(rules: list[DeviceRule], kind: str, major: int, minor: int, access: str) -> bool:
    """cgroup v1 (security/device_cgroup.c): an exception applies when it covers the whole request."""
    default = rules[0].allow
    for rule in rules[1:]:
        if (rule.kind in ("a", kind) and rule.major in (None, major) and rule.minor in (None, minor)
                and set(access) <= set(rule.access)):
            return rule.allow
    return default


RULE_SETS = {
    "container": list(container_rules(privileged=False)),
    "privileged": list(container_rules(privileged=True)),
    "deny-list": [ALLOW_ALL, DeviceRule("b", 8, None, "rw", False), DeviceRule("c", 1, 1, "w", False)],
}
NUMBERS = [(1, 1), (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (1, 11), (5, 0), (5, 1), (5, 2), (8, 0), (8, 1),
           (10, 200), (136, 0), (136, 7), (254, 0), (253, 0)]
ACCESSES = ["".join(c) for n in range(1, 4) for c in itertools.combinations("rwm", n)]


@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_the_program_answers_as_cgroup_v1_does(name: str) -> None:
    rules = RULE_SETS[name]
    program = device_program(rules)
    for kind, (major, minor), access in itertools.product("cb", NUMBERS, ACCESSES):
        access_type = (sum(ACCESS[a] for a in access) << 16) | DEV_TYPE[kind]
        got = run_program(program, access_type, major, minor)
        assert got == int(v1_answer(rules, kind, major, minor, access)), (kind, major, minor, access)


def test_the_container_program_refuses_a_disk_and_keeps_the_basics() -> None:
    program = device_program(list(container_rules(privileged=False)))

    def allowed(kind: str, major: int, minor: int, access: str) -> bool:
        return bool(run_program(program, (sum(ACCESS[a] for a in access) << 16) | DEV_TYPE[kind], major, minor))

    assert not allowed("b", 8, 0, "r")  # a SCSI disk
    assert allowed("b", 8, 0, "m")  # creating its node is allowed, opening it is not
    assert not allowed("c", 1, 1, "r")  # /dev/mem
    assert not allowed("c", 1, 11, "w")  # /dev/kmsg
    assert allowed("c", 1, 3, "rw") and allowed("c", 136, 3, "rw") and allowed("c", 5, 2, "rw")
    # An access type the kernel might add one day never slips through a partial rule.
    assert not run_program(program, ((1 | 8) << 16) | DEV_TYPE["c"], 99, 0)


def test_an_unknown_architecture_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyrunc.cgroups import ebpf
    from pyrunc.errors import CgroupError

    monkeypatch.setattr(ebpf.sc, "machine", lambda: "mips")
    with pytest.raises(CgroupError, match="no bpf.. syscall number known for mips"):
        ebpf.load_device_program(device_program([ALLOW_ALL]))


def test_v1_without_a_devices_hierarchy_refuses_to_run_a_confined_container(tmp_path: object) -> None:
    from pyrunc.cgroups.v1 import V1Driver
    from pyrunc.errors import CgroupError

    driver = V1Driver(mounts={c: f"{tmp_path}/{c}" for c in ("cpu", "memory", "pids")})
    with pytest.raises(CgroupError, match="devices controller is not mounted"):
        driver.set_devices("uid", "app", container_rules(privileged=False))
    driver.set_devices("uid", "app", container_rules(privileged=True))  # nothing to restrict: no error
