"""`apply --dry-run -o plan`: the runtime's plan for a pod as readable text (pure)."""

from __future__ import annotations

from typing import Any


def _table(rows: list[tuple[str, ...]], indent: str = "    ") -> list[str]:
    if not rows:
        return [f"{indent}<none>"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def render_plan(plan: Any) -> str:
    out = [f"pod/{plan.name} (namespace {plan.namespace}): what pyrunc would do (dry run: nothing was done)", ""]
    out.append("Sandbox namespaces:")
    out += _table([(k, v) for k, v in plan.namespaces])
    if plan.sysctls:
        out.append("Sysctls (written in the pod's new namespaces):")
        out += _table([(k, v) for k, v in plan.sysctls])
    out.append("Sandbox mounts (on the host, under the pod directory):")
    out += _table([(m.source, m.target, m.type, m.options) for m in plan.sandbox_mounts])
    out.append("Pod files (bind-mounted into every container):")
    out += _table([(k, v) for k, v in plan.etc_files])
    out.append("")
    out.append(f"QoS class: {plan.qos}")
    out.append(f"Cgroups ({plan.cgroup_driver}):")
    for d in plan.cgroup_dirs:
        out.append(f"    mkdir {d}")
    out += _table([(path, value) for path, value in plan.cgroup_files])
    out.append("")
    out.append("Network:")
    out += _table([(k, v) for k, v in plan.network])
    if plan.nftables:
        out.append("    nftables (one `nft -f -` transaction):")
        out += [f"        {line}" for line in plan.nftables.splitlines()]
    for c in plan.containers:
        out += ["", f"{c.kind.capitalize()} {c.name}:", f"  Image: {c.image}"]
        if c.error:
            out.append(f"  Would fail to be created: {c.error}")
            continue
        out.append(f"  Command: {_argv(c.args)}")
        out.append(f"  Working directory: {c.cwd}")
        out.append(f"  User: {c.user}")
        out.append("  Environment:")
        out += _table([(k, v) for k, v in c.env], "    ")
        out.append("  Namespaces:")
        out += _table([(k, v) for k, v in c.namespaces], "    ")
        out.append("  Mounts (in order, inside the container's mount namespace):")
        out += _table([(m.target, m.type, m.source or "-", m.options) for m in c.mounts], "    ")
        out.append("  Cgroup:")
        for d in c.cgroup_dirs:
            out.append(f"    mkdir {d}")
        out += _table([(path, value) for path, value in c.cgroup_files], "    ")
        out.append(f"    oom_score_adj {c.oom_score_adj}")
        if c.devices:
            out.append("  Devices (device cgroup):")
            out += [f"    {d}" for d in c.devices]
        out.append(f"  Capabilities (effective): {', '.join(c.capabilities) or '<none>'}")
        out.append(f"  Capabilities (bounding): {', '.join(c.bounding) or '<none>'}")
        out.append(f"  no_new_privs: {'yes' if c.no_new_privs else 'no'}")
        out.append(f"  Seccomp: {c.seccomp}")
    return "\n".join(out) + "\n"


def _argv(args: tuple[str, ...]) -> str:
    import shlex

    return " ".join(a if a.startswith("(") else shlex.quote(a) for a in args) or "<none>"
