"""Small, atomic JSON state files: write a temporary file, rename it over the old one.

The rename makes every update all-or-nothing for readers and against a crash of the writer. There is
no fsync: it would only guard against power loss, and the state lives under /run, which does not
survive a reboot anyway (nor do the processes it describes). Skipping it saves ~2 ms per write,
and a pod start writes a dozen times.
"""

from __future__ import annotations

import json
import os
from typing import Any


def write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"), sort_keys=True)
    os.replace(tmp, path)


def read_json(path: str, default: Any = None) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except ValueError:
        # A torn write cannot happen (rename is atomic); a corrupt file is treated as missing.
        return default
