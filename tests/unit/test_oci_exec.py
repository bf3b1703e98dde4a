"""pyrunc-oci exec's lean side: what it imports, the process it builds from state.json's plain form, and the
state read without the json package (pyrunc/oci/exec.py, pyrunc/oci/state.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyrunc.errors import FieldError
from pyrunc.oci import check_id, state
from pyrunc.oci.defaults import default_spec
from pyrunc.oci.exec import ExecOptions, exec_process_config

REPO = Path(__file__).resolve().parents[2]


def container_process(**user: Any) -> dict[str, Any]:
    """The "process" that create writes into state.json for runc's default config."""
    from pyrunc.oci.config import decode
    from pyrunc.oci.process import to_facts

    doc = default_spec()
    doc["process"]["terminal"] = False
    doc["process"]["user"].update(user)
    return json.loads(json.dumps(to_facts(decode(doc, "/b").process)))


def write_state(root: Path, cid: str, pid: int, start_time: int, process: dict[str, Any]) -> None:
    where = root / cid
    where.mkdir(parents=True)
    (where / "state.json").write_text(json.dumps({
        "pid": pid, "start_time": start_time, "bundle": "/b", "rootfs": "/b/rootfs", "created": "2026-01-01T00:00:00Z",
        "annotations": {"a": "1"}, "cgroups": {}, "poststart": [], "poststop": [], "process": process, "seccomp": ""},
        sort_keys=True))


def test_the_exec_path_imports_neither_json_re_enum_typing_nor_dataclasses(tmp_path: Path) -> None:
    """What it costs to import is most of what exec costs (docs/performance.md): the command line read, the
    state read and its status derived, the process built with every flag, its security made ready, in a fresh
    interpreter started as the launcher starts it (-I -S). The container's init is gone (a pid that no process
    has): exec stops there with runc's words, before it forks."""
    write_state(tmp_path, "c1", 2**22 + 1, 1, container_process())
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from pyrunc.oci import cli\n"
            "assert cli.main(['--root', sys.argv[2], 'exec', '-e', 'A=1', '-u', '5:6', '-g', '7',\n"
            "                 '--cap', 'CAP_CHOWN', '--cwd', '/tmp', '--no-new-privs',\n"
            "                 '--pid-file', sys.argv[2] + '/p', 'c1', 'true']) == 1\n"
            "from pyrunc.oci import exec as ex, state\n"
            "st, facts = state.load_with_facts(sys.argv[2], 'c1')\n"
            "o = ex.ExecOptions(args=('true',), env=('A=1',), user='5:6', caps=('CAP_CHOWN',), cwd='/tmp')\n"
            "proc = ex.exec_process_config(facts['process'], o)\n"
            "ex.privileges.ProcessSecurity(ex.Security(ex.CapSets(proc['capabilities']), True, ''))\n"
            "from pyrunc.linux import syscalls as sc\n"
            "assert sc.prctl(3) in (0, 1)  # PR_GET_DUMPABLE, through linux/libc.py\n"
            "heavy = sorted({'json', 're', 'enum', 'typing', 'dataclasses', 'signal', 'functools', 'collections',\n"
            "                'ctypes', 'pyrunc.oci.container', 'pyrunc.oci.config', 'pyrunc.oci.process',\n"
            "                'pyrunc.security'}\n"
            "               & set(sys.modules))\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "error: cannot exec in a stopped container\n"


def test_the_flags_change_the_containers_process() -> None:
    p = container_process(uid=1, gid=2, additionalGids=[3])
    got = exec_process_config(p, ExecOptions(
        args=("sh", "-c", "x"), env=("PATH=/x", "NEW=a=b"), user="5:6", additional_gids=(7,), cwd="/srv/../tmp",
        caps=("CAP_CHOWN", "CAP_KILL"), no_new_privs=True, tty=True))
    assert got["args"] == ["sh", "-c", "x"]
    assert dict(got["env"]) == {**dict(p["env"]), "PATH": "/x", "NEW": "a=b"}
    assert (got["uid"], got["gid"], got["additional_gids"], got["cwd"]) == (5, 6, [3, 7], "/tmp")
    bounding, effective, permitted, inheritable, ambient = got["capabilities"]
    assert bounding == effective == permitted == ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
    assert inheritable == [] and ambient == p["capabilities"][4]  # runc: no ambient without an inheritable set
    p["capabilities"][3] = ["CAP_KILL"]
    assert "CAP_CHOWN" in exec_process_config(p, ExecOptions(args=("x",), caps=("CAP_CHOWN",)))["capabilities"][4]
    assert got["no_new_privileges"] is True and got["terminal"] is True
    assert p["args"] == ["sh"] and p["uid"] == 1  # the container's own is left as it was
    assert exec_process_config(p, ExecOptions(args=("true",), user="9"))["gid"] == 2  # the group stays without :GID


@pytest.mark.parametrize("options, words", [
    (ExecOptions(), "exec: process args cannot be empty"),
    (ExecOptions(args=("x",), env=("NOEQUALS",)), "--env[0]: must be KEY=value"),
    (ExecOptions(args=("x",), user="root"), "--user: must be UID[:GID]"),
    (ExecOptions(args=("x",), caps=("CAP_NOPE",)), "--cap: unknown capability 'CAP_NOPE'"),
    (ExecOptions(args=("x",), cwd="tmp"), "--cwd: must be an absolute path"),
])
def test_bad_flags(options: ExecOptions, words: str) -> None:
    with pytest.raises(FieldError, match=words.replace("[", r"\[")):
        exec_process_config(container_process(), options)


def test_the_state_read_without_the_json_package(tmp_path: Path) -> None:
    write_state(tmp_path, "c1", os.getpid(), 0, {"args": ["sh"]})
    (tmp_path / "c1" / "exec.fifo").write_text("")
    st, facts = state.load_with_facts(str(tmp_path), "c1")
    assert facts["process"] == {"args": ["sh"]} and st.annotations == {"a": "1"}
    assert st.status == "stopped"  # our pid, but another start time: not the container's init
    assert st == state.load(str(tmp_path), "c1") and "status='stopped'" in repr(st)
    assert st.to_oci()["pid"] == 0 and st.to_oci()["annotations"] == {"a": "1"}
    for text in ("", "{", "[1]", '{"pid": 1} x', b"\xff"):
        path = tmp_path / "f.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        assert state.read_json(str(path)) is None, text
    (tmp_path / "f.json").write_text(' {"a": [1, "\\u00e9"]}\n')
    assert state.read_json(str(tmp_path / "f.json")) == {"a": [1, "\u00e9"]}
    assert state.read_json(str(tmp_path / "missing.json")) is None


@pytest.mark.parametrize("cid, ok", [("abc-1.2_x", True), ("a+b", True), ("caf\u00e9", True), ("..", False),
                                     ("", False), ("a/b", False), ("a b", False), ("a\n", False)])
def test_container_ids(cid: str, ok: bool) -> None:
    """runc's rule ^[\\w+-.]+$, read by hand (re is not loaded); a trailing newline is refused (re's $ let it by)."""
    if ok:
        assert check_id(cid) == cid
    else:
        with pytest.raises(FieldError, match="invalid id format"):
            check_id(cid)


def test_libc_without_the_ctypes_package() -> None:
    """linux/libc.py calls libc through _ctypes: results as ints (longs where restype says so), errno kept,
    arrays, and ctypes' own types accepted as arguments."""
    import ctypes
    import errno

    from pyrunc.linux import libc
    from pyrunc.linux import syscalls as sc

    lib = sc._libc()
    assert lib.getpid() == os.getpid() and lib.getpid is lib.getpid  # looked up once
    assert lib.prctl(libc.c_int(3), libc.c_ulong(0), ctypes.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0)) in (0, 1)
    assert lib.prctl(libc.c_int(-1), libc.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0)) == -1
    assert libc.get_errno() == errno.EINVAL == ctypes.get_errno()
    with pytest.raises(OSError) as e:
        sc.prctl(-1, what="prctl(-1)")
    assert e.value.errno == errno.EINVAL and "prctl(-1)" in str(e.value)
    words = libc.array(libc.c_uint32, 3)(1, 2)
    assert list(words) == [1, 2, 0] and ctypes.sizeof(words) == 12
    assert lib.syscall.restype is libc.c_long
    with pytest.raises(AttributeError):
        lib.no_such_function_in_libc


def test_a_kept_bpf_program_loads_as_the_compiled_filter(tmp_path: Path) -> None:
    """linux/privileges.py BpfFilter: libseccomp's export of a filter, loaded with prctl in a child, acts as
    the filter (mkdir refused with errno 1, getpid allowed)."""
    pytest.importorskip("pyseccomp")
    from pyrunc.linux import privileges
    from pyrunc.security.seccomp import compile_filter

    with open(tmp_path / "f.bpf", "wb") as f:
        compile_filter({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
                        }).export_bpf(f)
    flt = privileges.BpfFilter((tmp_path / "f.bpf").read_bytes())
    pid = os.fork()
    if pid == 0:
        try:
            privileges.set_no_new_privs()
            flt.load()
            try:
                os.mkdir(str(tmp_path / "d"))
                os._exit(2)
            except OSError as e:
                os._exit(0 if e.errno == 1 and os.getpid() > 0 else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not (tmp_path / "d").exists()
    with pytest.raises(ValueError):
        privileges.BpfFilter(b"1234567")
