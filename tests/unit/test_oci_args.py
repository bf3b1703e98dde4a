"""pyrunc-oci's hand-read command line (pyrunc/oci/args.py): runc's flag forms, argparse's attribute names."""

from __future__ import annotations

import pytest

from pyrunc.oci.args import UsageError, parse


def test_global_and_create_flags_in_runcs_forms() -> None:
    ns = parse(["--root", "/r", "--log=/l", "--log-format", "json", "create", "-b", "/b", "--pid-file=/p",
                "--console-socket", "/s", "--no-pivot", "--preserve-fds", "2", "cid"])
    assert (ns.root, ns.log, ns.log_format, ns.verb) == ("/r", "/l", "json", "create")
    assert (ns.bundle, ns.pid_file, ns.console_socket, ns.no_pivot, ns.no_new_keyring, ns.preserve_fds, ns.id) == (
        "/b", "/p", "/s", True, False, 2, "cid")


def test_defaults() -> None:
    ns = parse(["run", "x"])
    assert (ns.root, ns.bundle, ns.detach, ns.debug, ns.systemd_cgroup) == ("/run/pyrunc-oci", ".", False, False, False)
    assert parse(["kill", "x"]).signal == "SIGTERM"
    assert parse(["kill", "--all", "x", "KILL"]).signal == "KILL"


def test_flags_after_positionals_except_for_exec_and_ps() -> None:
    assert parse(["delete", "x", "--force"]).force is True
    ns = parse(["exec", "-t", "-e", "A=1", "--env=B=2", "-u", "1:2", "x", "sh", "-c", "--force"])
    assert (ns.tty, ns.env, ns.user, ns.id, ns.args) == (True, ["A=1", "B=2"], "1:2", "x", ["sh", "-c", "--force"])
    assert parse(["ps", "--format", "json", "x"]).ps_args == []
    assert parse(["ps", "x", "--", "-o", "pid"]).ps_args == ["-o", "pid"]
    assert parse(["exec", "-g", "5", "-g", "6", "x", "true"]).additional_gids == [5, 6]


@pytest.mark.parametrize("argv, words", [
    (["state"], "the following arguments are required: id"),
    (["nope"], "unknown command 'nope'"),
    (["run", "--bogus", "x"], "flag provided but not defined: --bogus"),
    (["run", "--bundle"], "flag needs an argument: --bundle"),
    (["list", "--format", "yaml"], "--format: invalid choice 'yaml'"),
    (["run", "--preserve-fds", "two", "x"], "--preserve-fds: invalid integer 'two'"),
    (["start", "a", "b"], "unrecognized arguments: b"),
])
def test_errors(argv: list[str], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse(argv)


def test_help_and_version() -> None:
    assert parse(["--help"]).help and parse(["-v"]).version and parse([]).verb is None
    assert parse(["run", "--help"]).help


def test_the_fifo_name_is_the_inits() -> None:
    from pyrunc.oci import container, init

    assert container.FIFO == init.FIFO
