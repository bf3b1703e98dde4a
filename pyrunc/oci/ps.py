"""`pyrunc-oci ps`: the processes of a container (those of its cgroup), as runc's: `--format json` prints
the pids list; the table is the host's `ps` (default arguments -ef) filtered to the container's pids."""

from __future__ import annotations

import json
import subprocess

from pyrunc.oci import cgroup
from pyrunc.oci.state import OciError, load


def ps(root: str, container_id: str, fmt: str, ps_args: list[str]) -> str:
    st = load(root, container_id)
    if st.status not in ("created", "running", "paused"):
        raise OciError("container not running")
    pids = sorted(cgroup.procs(st.cgroups))
    if fmt == "json":
        if ps_args:
            raise OciError("argument to ps is not supported with --format json")
        return json.dumps(pids)
    try:
        out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise OciError("ps: the host has no ps command") from None
    if out.returncode != 0:
        raise OciError(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise OciError("couldn't find PID field in ps output")
    column = header.index("PID")
    wanted = set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            kept.append(line)
    return "\n".join(kept)
