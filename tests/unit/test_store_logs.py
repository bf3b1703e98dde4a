"""Container log files: the kubelet's rotation (size, rotated names, files kept) and reading an
instance across its rotated files (whole, --tail, -f through a rotation). No root needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyrunc.cli.logs_cmd import render, tail_lines
from pyrunc.store.logs import (Follower, LogFile, LogWriter, RotationPolicy, complete, open_instance, parse_records,
                               read_instance, read_last, remove_instances_before, rotated_logs, rotated_name)

T0 = 1_789_997_600.0  # 2026-09-21T13:33:20Z


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lines_of(path: Path) -> list[bytes]:
    return [r.content for r in parse_records(path.read_bytes())]


def write_lines(tmp_path: Path, n: int, policy: RotationPolicy, clock: Clock, step: float = 1.0) -> Path:
    """n records `line-<i>` through one writer; the clock moves `step` s per line."""
    path = tmp_path / "0.log"
    log = LogFile(str(path), streams=1, policy=policy, clock=clock)
    w = LogWriter(log, "stdout")
    for i in range(n):
        w.feed(b"line-%03d\n" % i)
        clock.now += step
    w.close()
    return path


RECORD = len(b"2026-09-21T13:33:20.000000000Z stdout F line-000\n")  # every record has this size


def test_a_file_reaching_the_size_is_renamed_with_the_kubelets_stamp(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 3, RotationPolicy(max_size=2 * RECORD, max_files=5), Clock())
    rotated = rotated_logs(str(path))
    assert [os.path.basename(p) for p in rotated] == ["0.log.20260921-133321"]  # stamped when line-001 filled it
    assert lines_of(Path(rotated[0])) == [b"line-000", b"line-001"]
    assert lines_of(path) == [b"line-002"]


def test_records_are_never_cut_and_no_file_passes_the_size(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 40, RotationPolicy(max_size=3 * RECORD + 5, max_files=100), Clock())
    for p in rotated_logs(str(path)):
        assert len(Path(p).read_bytes()) == 3 * RECORD  # full: a fourth record did not fit
    assert len(path.read_bytes()) == RECORD
    everything = b"".join(Path(p).read_bytes() for p in [*rotated_logs(str(path)), str(path)])
    assert [r.content for r in parse_records(everything)] == [b"line-%03d" % i for i in range(40)]


def test_at_most_max_files_are_kept_the_oldest_removed(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 30, RotationPolicy(max_size=RECORD, max_files=3), Clock())
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 3  # two rotated and the current one
    rotated = rotated_logs(str(path))
    assert len(rotated) == 2
    # The newest lines survive: every write rotated, so the current file is empty and the two
    # rotated files hold the last two lines.
    assert [lines_of(Path(p)) for p in rotated] == [[b"line-028"], [b"line-029"]]
    assert path.read_bytes() == b""


def test_rotations_within_one_second_keep_their_order(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 12, RotationPolicy(max_size=RECORD, max_files=20), Clock(), step=0.0)
    rotated = rotated_logs(str(path))
    assert os.path.basename(rotated[0]) == "0.log.20260921-133320"
    assert os.path.basename(rotated[1]) == "0.log.20260921-133320.1"
    assert os.path.basename(rotated[11]) == "0.log.20260921-133320.11"  # numeric, not string order
    assert [lines_of(Path(p))[0] for p in rotated] == [b"line-%03d" % i for i in range(12)]


def test_rotated_name_never_overwrites(tmp_path: Path) -> None:
    first = rotated_name(str(tmp_path / "3.log"), T0)
    Path(first).write_bytes(b"")
    assert rotated_name(str(tmp_path / "3.log"), T0) == first + ".1"


def test_a_name_freed_by_removal_is_not_reused_within_the_second(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 6, RotationPolicy(max_size=RECORD, max_files=3), Clock(), step=0.0)
    assert [os.path.basename(p) for p in rotated_logs(str(path))] == ["0.log.20260921-133320.4",
                                                                      "0.log.20260921-133320.5"]
    assert [lines_of(Path(p)) for p in rotated_logs(str(path))] == [[b"line-004"], [b"line-005"]]


def test_no_rotation_when_the_size_is_zero_or_less(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 50, RotationPolicy(max_size=0, max_files=2), Clock())
    assert rotated_logs(str(path)) == [] and len(lines_of(path)) == 50


def test_other_files_are_not_taken_for_rotated_ones(tmp_path: Path) -> None:
    for name in ("0.log", "0.log.20260921-133320", "0.log.20260921-133320.tmp", "0.log.20260921-133319.gz",
                 "10.log.20260921-133300", "0.log.x", "0.logs"):
        (tmp_path / name).write_bytes(b"")
    assert rotated_logs(str(tmp_path / "0.log")) == [str(tmp_path / "0.log.20260921-133320")]


def test_one_big_write_is_spread_over_files_at_record_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = LogFile(str(path), streams=1, policy=RotationPolicy(max_size=2 * RECORD + 10, max_files=100), clock=Clock())
    w = LogWriter(log, "stdout")
    w.feed(b"".join(b"line-%03d\n" % i for i in range(7)))  # one chunk read from the pipe
    w.close()
    files = [*rotated_logs(str(path)), str(path)]
    assert [lines_of(Path(p)) for p in files] == [
        [b"line-000", b"line-001"], [b"line-002", b"line-003"], [b"line-004", b"line-005"], [b"line-006"]]


def test_two_streams_share_the_file_and_its_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = LogFile(str(path), streams=2, policy=RotationPolicy(max_size=2 * RECORD, max_files=10), clock=Clock())
    out, err = LogWriter(log, "stdout"), LogWriter(log, "stderr")
    for i in range(5):
        out.feed(b"line-%03d\n" % i)
        err.feed(b"line-%03d\n" % (100 + i))
    out.close()
    err.close()
    records = [r for p in [*rotated_logs(str(path)), str(path)] for r in parse_records(Path(p).read_bytes())]
    assert [(r.stream, r.content) for r in records][:4] == [
        ("stdout", b"line-000"), ("stderr", b"line-100"), ("stdout", b"line-001"), ("stderr", b"line-101")]
    assert len(records) == 10
    with pytest.raises(OSError):
        os.fstat(log.fd)  # closed with its last stream


def test_older_instances_go_the_previous_one_stays(tmp_path: Path) -> None:
    for name in ("0.log", "0.log.20260921-133320", "1.log", "1.log.20260921-133320", "2.log", "termination-log"):
        (tmp_path / name).write_bytes(b"")
    remove_instances_before(str(tmp_path), 3)
    assert sorted(os.listdir(tmp_path)) == ["2.log", "termination-log"]
    remove_instances_before(str(tmp_path), 3)  # idempotent


# ------------------------------------------------------------------------------------ reading
def read_all(path: Path, tail: int = -1) -> bytes:
    rotated, current = open_instance(str(path))
    data = complete(current.read())[0] if current is not None else b""
    if current is not None:
        current.close()
    return tail_lines(render(read_instance(rotated, data, tail), False), tail)


def test_reading_goes_through_rotated_files_oldest_first_then_the_current(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 25, RotationPolicy(max_size=4 * RECORD, max_files=100), Clock())
    assert len(rotated_logs(str(path))) == 6
    assert read_all(path) == b"".join(b"line-%03d\n" % i for i in range(25))


@pytest.mark.parametrize("tail", [0, 1, 3, 4, 5, 9, 24, 25, 40])
def test_tail_reads_across_files(tmp_path: Path, tail: int) -> None:
    path = write_lines(tmp_path, 25, RotationPolicy(max_size=4 * RECORD, max_files=100), Clock())
    expected = b"".join(b"line-%03d\n" % i for i in range(max(0, 25 - tail), 25)) if tail else b""
    assert read_all(path, tail) == expected


def test_tail_keeps_a_long_line_split_over_two_files_whole(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = LogFile(str(path), streams=1, policy=RotationPolicy(max_size=1, max_files=10), clock=Clock())
    w = LogWriter(log, "stdout")
    w.feed(b"x" * (16 * 1024 + 10))  # one P record (a full MAX_LINE) written, then rotated
    w.feed(b"\nshort\n")
    w.close()
    assert len(rotated_logs(str(path))) == 3  # each record bigger than the size has a file of its own
    assert read_all(path, 2) == b"x" * (16 * 1024 + 10) + b"\nshort\n"
    assert read_all(path, 1) == b"short\n"


def test_a_torn_last_record_waits(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(b"2026-09-21T13:33:20.000000000Z stdout F a\n2026-09-21T13:33:20.0000")
    assert read_all(path) == b"a\n"


def test_open_instance_does_not_repeat_a_file_rotated_meanwhile(tmp_path: Path) -> None:
    # The rotation happened between opening the current file and listing the rotated ones: the
    # file opened is then also listed under its rotated name (here: a second name for the same file).
    path = write_lines(tmp_path, 3, RotationPolicy(max_size=2 * RECORD, max_files=5), Clock())
    os.link(path, str(path) + ".20260921-140000")
    rotated, current = open_instance(str(path))
    assert current is not None
    assert [os.path.basename(p) for p in rotated] == ["0.log.20260921-133321"]
    data = complete(current.read())[0]
    current.close()
    assert render(read_instance(rotated, data), False) == b"line-000\nline-001\nline-002\n"


def test_follow_continues_through_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    clock = Clock()
    log = LogFile(str(path), streams=1, policy=RotationPolicy(max_size=2 * RECORD, max_files=2), clock=clock)
    w = LogWriter(log, "stdout")
    w.feed(b"line-000\n")
    rotated, current = open_instance(str(path))
    assert rotated == [] and current is not None
    follower = Follower(str(path), current)
    seen = b""
    for i in range(1, 9):  # rotates every two lines; with max_files 2 older files are removed under the reader
        w.feed(b"line-%03d\n" % i)
        clock.now += 1
        for _ in range(3):
            seen += follower.read()
    w.close()
    seen += follower.read() + follower.read()
    follower.close()
    assert [r.content for r in parse_records(seen)] == [b"line-%03d" % i for i in range(9)]


def test_follow_waits_while_the_current_file_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(b"2026-09-21T13:33:20.000000000Z stdout F a\n")
    follower = Follower(str(path), open(path, "rb"))
    assert follower.read().endswith(b"F a\n")
    os.rename(path, str(path) + ".20260921-133320")  # renamed; the writer has not opened the next yet
    assert follower.read() == b""
    path.write_bytes(b"2026-09-21T13:33:21.000000000Z stdout F b\n")
    assert follower.read() == b""  # the old file's end (nothing more), then the switch
    assert follower.read().endswith(b"F b\n")
    follower.close()


def test_read_last_spans_rotated_files_from_a_record_boundary(tmp_path: Path) -> None:
    path = write_lines(tmp_path, 10, RotationPolicy(max_size=3 * RECORD, max_files=10), Clock())
    assert [r.content for r in parse_records(read_last(str(path), 5 * RECORD - 3))] == [
        b"line-%03d" % i for i in range(6, 10)]
    assert [r.content for r in parse_records(read_last(str(path), 100 * RECORD))] == [
        b"line-%03d" % i for i in range(10)]


def test_follow_reads_every_file_rotated_between_two_reads(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = LogFile(str(path), streams=1, policy=RotationPolicy(max_size=2 * RECORD, max_files=50), clock=Clock())
    w = LogWriter(log, "stdout")
    w.feed(b"line-000\n")
    follower = Follower(str(path), open_instance(str(path))[1])
    seen = follower.read()
    for i in range(1, 12):  # five rotations before the follower looks again
        w.feed(b"line-%03d\n" % i)
    w.close()
    while chunk := follower.read():
        seen += chunk
    follower.close()
    assert [r.content for r in parse_records(seen)] == [b"line-%03d" % i for i in range(12)]


def test_a_failed_rotation_keeps_writing_to_the_same_file(tmp_path: Path) -> None:
    d = tmp_path / "gone"
    d.mkdir()
    path = d / "0.log"
    log = LogFile(str(path), streams=1, policy=RotationPolicy(max_size=RECORD, max_files=3), clock=Clock())
    keep = os.open(path, os.O_RDONLY)
    path.unlink()
    d.rmdir()  # the pod's log directory removed under a straggler still writing
    w = LogWriter(log, "stdout")
    for i in range(5):
        w.feed(b"line-%03d\n" % i)
    w.close()
    with os.fdopen(keep, "rb") as f:
        assert [r.content for r in parse_records(f.read())] == [b"line-%03d" % i for i in range(5)]


def test_log_file_reopen_after_an_outside_rename(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    f = LogFile(str(path), streams=1)
    f.write(b"a\n")
    path.rename(tmp_path / "0.log.old")
    f.write(b"b\n")  # still the renamed file, until reopened
    f.reopen()
    f.write(b"c\n")
    assert (tmp_path / "0.log.old").read_bytes() == b"a\nb\n" and path.read_bytes() == b"c\n" and f.size == 2
    f.release()
    f.reopen()  # every stream ended: nothing is opened again
    assert f.open_streams == 0
