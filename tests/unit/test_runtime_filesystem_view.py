"""Masked and read-only paths chosen for a container: containerd's defaults, none when privileged or Unmasked."""

from __future__ import annotations

from pyrunc.runtime.config import (
    DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, ContainerConfig, Mount, filesystem_view,
)


def test_default_view_masks_and_protects() -> None:
    masked, readonly = filesystem_view(False, "")
    assert masked == DEFAULT_MASKED_PATHS and readonly == DEFAULT_READONLY_PATHS
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/interrupts"} <= set(masked)
    assert "/proc/sys" in readonly and "/proc/sysrq-trigger" in readonly
    assert filesystem_view(False, "Default") == (masked, readonly)


def test_privileged_and_unmasked_see_everything() -> None:
    assert filesystem_view(True, "") == ((), ())
    assert filesystem_view(False, "Unmasked") == ((), ())


def test_view_and_sub_path_survive_the_config_file() -> None:
    cfg = ContainerConfig(
        pod_key="default_p", name="c", args=("sh",), env=(), cwd="/", uid=0, gid=0, additional_gids=(),
        lower="/l", upper="/u", work="/w", merged="/m", namespaces={}, privileged=True,
        mounts=(Mount(destination="/data", source="/vol", sub_path="a/b", volume="data"),),
        masked_paths=("/proc/kcore",), readonly_paths=("/proc/sys",),
    )
    back = ContainerConfig.from_json(cfg.to_json())
    assert back == cfg and back.mounts[0].sub_path == "a/b" and back.mounts[0].volume == "data"
