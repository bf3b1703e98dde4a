"""The pure parts of the cgroup v2 guest harness (tests/guest/run_in_guest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.guest.run_in_guest import GuestError, module_files

# Lines of a real modules.dep (Debian 6.1 cloud kernel): each module, then what it needs,
# the module needed last listed first.
MODULES_DEP = """\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
"""


@pytest.fixture
def moddir(tmp_path: Path) -> Path:
    (tmp_path / "modules.dep").write_text(MODULES_DEP)
    (tmp_path / "modules.builtin").write_text("kernel/fs/ext4/ext4.ko\nkernel/drivers/block/loop.ko\n")
    return tmp_path


def test_dependencies_load_first_and_once(moddir: Path) -> None:
    names = [p.name for p in module_files(moddir, ["virtio_pci", "virtio_blk"])]
    assert names == ["virtio_ring.ko", "virtio.ko", "virtio_pci_modern_dev.ko", "virtio_pci_legacy_dev.ko",
                     "virtio_pci.ko", "virtio_blk.ko"]
    assert module_files(moddir, ["virtio_blk"])[0] == moddir / "kernel/drivers/virtio/virtio_ring.ko"


def test_built_in_modules_are_skipped_and_unknown_ones_refused(moddir: Path) -> None:
    assert [p.name for p in module_files(moddir, ["ext4", "virtio"])] == ["virtio_ring.ko", "virtio.ko"]
    with pytest.raises(GuestError, match="virtio_scsi is neither a module nor built into the kernel"):
        module_files(moddir, ["virtio_scsi"])
