"""The built-in `busybox` image: built offline from the host's busybox-static and imported into the store.

`pyrunc image import --builtin` runs the recipe shipped inside the package (images/busybox.sh, package
data, so a `pip install .`d pyrunc has it) and imports the reproducible layer it makes with the config
of Docker Hub's busybox. `make setup` (scripts/builtin-image.sh) calls the same command, so an
installed pyrunc and a checkout give the same image id from the same busybox binary.

The image is never built behind the user's back on first use of the name `busybox`: a pod naming it
follows the pull policy like any other image, and this command is the one explicit way to make it.
"""

from __future__ import annotations

import os
import subprocess
from pyrunc.config import NodeConfig
from pyrunc.errors import ImageError

NAME = "docker.io/library/busybox:latest"
# Docker Hub's busybox config: Cmd ["sh"], no Entrypoint, the usual PATH, working directory /.
CHANGES: tuple[str, ...] = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "WORKDIR /",
    'CMD ["sh"]',
)
RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "busybox.sh")


def default_build_dir(cfg: NodeConfig) -> str:
    """Next to the image store (/var/lib/pyrunc/builtin/busybox for the default store)."""
    return os.path.join(os.path.dirname(os.path.normpath(cfg.images_dir)), "builtin", "busybox")


def build_rootfs(build_dir: str) -> str:
    """Run the recipe into `build_dir` (a no-op when its stamp is current); the layer tarball's path."""
    if not os.path.isfile(RECIPE):
        raise ImageError(f"the built-in image's recipe is missing from this installation: {RECIPE}")
    proc = subprocess.run(["sh", RECIPE, build_dir], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ImageError(f"cannot build the built-in busybox image: {last.removeprefix('busybox.sh: ')}")
    return os.path.join(build_dir, "rootfs.tar")
