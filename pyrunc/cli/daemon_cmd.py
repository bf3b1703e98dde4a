"""pyrunc daemon [--pod-manifest-path DIR]: the supervisor.

Started by the CLI itself when a command needs it (and gone once idle); run by hand or by the systemd
unit (contrib/pyrunc.service) with a manifest directory, it keeps the directory's static pods running
and stays until SIGTERM, which leaves every pod running (the next daemon adopts them).
"""

from __future__ import annotations

import os
from typing import Any


def add_arguments(parser: Any) -> None:
    parser.add_argument("--pod-manifest-path", default="", metavar="DIR",
                        help="run a static pod for each .yaml/.yml/.json file of DIR (node setting pod_manifest_path)")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.supervisor.daemon import run_daemon

    if args.pod_manifest_path:
        cfg = cfg._replace(pod_manifest_path=os.path.abspath(args.pod_manifest_path))
    return run_daemon(cfg)
