"""The pieces around the static pod rules: inotify events, the node settings, the events table."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pyrunc.config import load_config
from pyrunc.errors import PyruncError
from pyrunc.linux import inotify
from pyrunc.printers.events import events_table


def test_inotify_reports_a_closed_write_a_rename_and_a_removal(tmp_path: Path) -> None:
    fd = inotify.inotify_init()
    try:
        wd = inotify.add_watch(fd, str(tmp_path))
        assert inotify.read_events(fd) == []  # non-blocking: nothing yet
        (tmp_path / ".web.yaml.tmp").write_text("x")
        os.rename(tmp_path / ".web.yaml.tmp", tmp_path / "web.yaml")
        (tmp_path / "web.yaml").unlink()
        events = inotify.read_events(fd)
        assert (wd, inotify.IN_CLOSE_WRITE, ".web.yaml.tmp") in events
        assert (wd, inotify.IN_MOVED_TO, "web.yaml") in [(w, m & inotify.IN_MOVED_TO, n) for w, m, n in events]
        assert (wd, inotify.IN_DELETE, "web.yaml") in events
        tmp_path.rmdir()
        assert any(m & inotify.IN_IGNORED for w, m, _ in inotify.read_events(fd) if w == wd)
    finally:
        os.close(fd)


def test_add_watch_of_a_missing_directory_is_an_oserror(tmp_path: Path) -> None:
    fd = inotify.inotify_init()
    try:
        with pytest.raises(FileNotFoundError):
            inotify.add_watch(fd, str(tmp_path / "missing"))
    finally:
        os.close(fd)


def test_node_settings(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"pod_manifest_path": "/etc/pyrunc/manifests",
                                                      "file_check_frequency": 5}))
    cfg = load_config(str(tmp_path))
    assert cfg.pod_manifest_path == "/etc/pyrunc/manifests" and cfg.file_check_frequency == 5.0
    assert load_config(str(tmp_path / "x")).pod_manifest_path == ""
    for bad, words in (({"pod_manifest_path": "manifests"}, "pod_manifest_path: expected an absolute path"),
                       ({"file_check_frequency": 0}, "file_check_frequency: must be positive")):
        (tmp_path / "config.json").write_text(json.dumps(bad))
        with pytest.raises(PyruncError, match=words):
            load_config(str(tmp_path))


def test_events_table() -> None:
    now = datetime(2026, 1, 1, 0, 10, tzinfo=timezone.utc)
    node_event = {"type": "Warning", "reason": "FailedValidation", "message": "static pod manifest /m/x.yaml: bad\n",
                  "count": 3, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z",
                  "involvedObject": {"kind": "Node", "name": "n1"}}
    pod_event = {"type": "Normal", "reason": "Started", "message": "Started container c", "count": 1,
                 "firstTimestamp": "2026-01-01T00:09:00Z", "lastTimestamp": "2026-01-01T00:09:00Z",
                 "involvedObject": {"kind": "Pod", "name": "web", "namespace": "kube-system"}}
    text = events_table([("kube-system", pod_event), ("default", node_event)], now)
    assert text.splitlines() == [
        "LAST SEEN          TYPE      REASON             OBJECT    MESSAGE",
        "5m (x3 over 10m)   Warning   FailedValidation   node/n1   static pod manifest /m/x.yaml: bad",
        "60s                Normal    Started            pod/web   Started container c",
    ]
    wide = events_table([("default", node_event)], now, all_namespaces=True, no_headers=True)
    assert wide.split()[0] == "default"
