"""Pod data and log paths off the state root, their reclaim after a wiped /run, emptyDir sizeLimit
eviction (the decision and the measure), and the evicted pod's status. No root needed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pyrunc.config import NodeConfig, load_config
from pyrunc.errors import PyruncError
from pyrunc.sandbox.eviction import Eviction, VolumeLimit, emptydir_eviction, measure_usage
from pyrunc.status import pod_status
from pyrunc.store.paths import (OWNER_FILE, PodPaths, ensure_data_dir, ensure_log_dir, reclaim_orphans,
                                remove_pod_data)

UID_A = "0b6f3c1e-1111-4a4a-8b8b-000000000001"
UID_B = "0b6f3c1e-2222-4a4a-8b8b-000000000002"
UID_C = "0b6f3c1e-3333-4a4a-8b8b-000000000003"


def cfg_for(tmp_path: Path, root: str = "root") -> NodeConfig:
    return NodeConfig(root=str(tmp_path / root), data_dir=str(tmp_path / "data"), pod_logs_dir=str(tmp_path / "logs"))


def make_pod(cfg: NodeConfig, name: str, uid: str) -> PodPaths:
    paths = PodPaths.of(cfg, "default", name, uid)
    ensure_data_dir(paths)
    os.makedirs(paths.layer("c") + "/upper")
    os.makedirs(paths.empty_dir("v"))
    Path(ensure_log_dir(paths, "c"), "0.log").write_bytes(b"x\n")
    return paths


def test_the_kubelets_layout(tmp_path: Path) -> None:
    p = PodPaths.of(cfg_for(tmp_path), "ns", "web", UID_A)
    assert p.log_file("app", 2) == str(tmp_path / "logs" / f"ns_web_{UID_A}" / "app" / "2.log")
    assert p.layer("app") == str(tmp_path / "data" / "pods" / UID_A / "containers" / "app" / "rootfs")
    assert p.empty_dir("v") == str(tmp_path / "data" / "pods" / UID_A / "volumes" / "kubernetes.io~empty-dir" / "v")


@pytest.mark.parametrize("uid", ["", "../x", UID_A + "/..", UID_A.upper(), "x" * 36])
def test_only_a_uid_reaches_a_path(tmp_path: Path, uid: str) -> None:
    with pytest.raises(ValueError):
        PodPaths.of(cfg_for(tmp_path), "default", "web", uid)


def test_data_is_private_and_marked_as_the_roots(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    p = make_pod(cfg, "web", UID_A)
    for d in (Path(cfg.data_dir, "pods"), Path(p.data)):
        assert d.stat().st_mode & 0o777 == 0o750
    assert Path(p.data, OWNER_FILE).read_text() == cfg.root + "\n"
    assert Path(p.log_dir, OWNER_FILE).read_text() == cfg.root + "\n"


def test_remove_pod_data_removes_data_and_logs(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    a, b = make_pod(cfg, "a", UID_A), make_pod(cfg, "b", UID_B)
    remove_pod_data(a)
    remove_pod_data(a)  # idempotent
    assert not os.path.exists(a.data) and not os.path.exists(a.log_dir)
    assert os.path.exists(b.data) and os.path.exists(b.log_dir)


def test_reclaim_removes_only_this_roots_pods_that_are_not_live(tmp_path: Path) -> None:
    cfg, other = cfg_for(tmp_path), cfg_for(tmp_path, "other-root")
    live, gone, others = make_pod(cfg, "live", UID_A), make_pod(cfg, "gone", UID_B), make_pod(other, "x", UID_C)
    kubelets = tmp_path / "logs" / f"default_kube_{UID_C.replace('3', '4')}"  # a real kubelet's: no marker
    (kubelets / "c").mkdir(parents=True)
    removed = reclaim_orphans(cfg, [UID_A])
    assert sorted(removed) == sorted([gone.data, gone.log_dir])
    for p in (live, others):
        assert os.path.exists(p.data) and os.path.exists(p.log_dir)
    assert kubelets.is_dir()
    assert reclaim_orphans(cfg, [UID_A]) == []


def test_reclaim_without_data_dirs_is_a_no_op(tmp_path: Path) -> None:
    assert reclaim_orphans(cfg_for(tmp_path), []) == []


# ---------------------------------------------------------------------------------- settings
def write_config(tmp_path: Path, **settings: object) -> str:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    (root / "config.json").write_text(json.dumps(settings))
    return str(root)


def test_settings_defaults_are_the_kubelets() -> None:
    cfg = NodeConfig()
    assert (cfg.container_log_max_size, cfg.container_log_max_files) == (10 * 1024 * 1024, 5)
    assert (cfg.pod_logs_dir, cfg.data_dir) == ("/var/log/pods", "/var/lib/pyrunc")


@pytest.mark.parametrize("settings,field", [
    ({"container_log_max_files": 1}, "container_log_max_files"),
    ({"pod_logs_dir": "logs"}, "pod_logs_dir"),
    ({"data_dir": "rel/data"}, "data_dir"),
    ({"container_log_max_size": "10Mi"}, "container_log_max_size"),
    ({"housekeeping_interval": 0}, "housekeeping_interval"),
])
def test_bad_settings_name_the_field(tmp_path: Path, settings: dict[str, object], field: str) -> None:
    with pytest.raises(PyruncError, match=field):
        load_config(write_config(tmp_path, **settings))


def test_settings_are_read(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, container_log_max_size=4096, container_log_max_files=3,
                                   pod_logs_dir=str(tmp_path / "l"), data_dir=str(tmp_path / "d")))
    assert (cfg.container_log_max_size, cfg.container_log_max_files) == (4096, 3)
    assert (cfg.pod_logs_dir, cfg.data_dir) == (str(tmp_path / "l"), str(tmp_path / "d"))


# ---------------------------------------------------------------------------------- eviction
LIMITS = (VolumeLimit("a", 1024 * 1024, "1Mi"), VolumeLimit("b", 2048, "2Ki"))


def test_eviction_when_usage_passes_the_limit() -> None:
    assert emptydir_eviction({"a": 1024 * 1024, "b": 2048}, LIMITS) is None  # at the limit: not past it
    assert emptydir_eviction({"a": 1024 * 1024 + 1, "b": 0}, LIMITS) == Eviction(
        "Evicted", 'Usage of EmptyDir volume "a" exceeds the limit "1Mi". ')
    assert emptydir_eviction({"a": 0, "b": 4096}, LIMITS) == Eviction(
        "Evicted", 'Usage of EmptyDir volume "b" exceeds the limit "2Ki". ')
    assert emptydir_eviction({}, LIMITS) is None  # not measured: no decision
    assert emptydir_eviction({"z": 0}, (VolumeLimit("z", 0, "0"),)) is None  # a zero limit is none (kubelet: Sign() == 1)


def test_measure_counts_allocated_blocks_once_without_following_links(tmp_path: Path) -> None:
    v = tmp_path / "v"
    (v / "d").mkdir(parents=True)
    base = measure_usage(str(v))
    (v / "d" / "f").write_bytes(b"x" * 300_000)
    os.link(v / "d" / "f", v / "g")  # the same inode twice
    outside = tmp_path / "outside"
    outside.write_bytes(b"y" * 1_000_000)
    os.symlink(outside, v / "l")
    os.symlink(tmp_path, v / "dl")
    used = measure_usage(str(v))
    assert 300_000 <= used - base < 300_000 + 64 * 1024
    assert measure_usage(str(tmp_path / "missing")) == 0


def test_an_evicted_pod_is_failed_with_the_reason_and_message() -> None:
    manifest = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "busybox"}]}}
    rec = {"c": {"pid": 10, "startTime": 1, "startedAt": "x", "restartCount": 0}}
    running = pod_status(manifest, rec, {}, lambda pid, st: True, 0.0, True)
    assert running["phase"] == "Running" and "reason" not in running
    message = 'Usage of EmptyDir volume "v" exceeds the limit "1Mi". '
    ended = {"c": dict(rec["c"], terminated={"exitCode": 137, "reason": "Error"}, willRestart=False)}
    st = pod_status(manifest, ended, {}, lambda pid, st: False, 0.0, True,
                    eviction={"reason": "Evicted", "message": message})
    assert (st["phase"], st["reason"], st["message"]) == ("Failed", "Evicted", message)
