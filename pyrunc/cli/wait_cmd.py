"""pyrunc wait pod/NAME --for=condition=Ready | --for=delete | --for=jsonpath='{.status.phase}'=Succeeded [--timeout 30s]"""

from __future__ import annotations

import re
import time
from typing import Any

from pyrunc.cli.common import parse_targets, parse_timeout
from pyrunc.cli.view import add_namespace_flag, load_pod
from pyrunc.errors import NotFound, PyruncError


def add_arguments(parser: Any) -> None:
    parser.add_argument("args", nargs="+", help="pod/NAME or pod NAME")
    add_namespace_flag(parser)
    parser.add_argument("--for", dest="for_", required=True, help="condition=C[=V] | delete | jsonpath='{...}'=V")
    parser.add_argument("--timeout", default="30s", help="e.g. 30s, 2m, 1h (default 30s)")


def jsonpath_get(obj: Any, path: str) -> Any:
    """The small jsonpath subset kubectl wait uses: {.a.b}, {.a[0].b}, {.a[?(@.type=="Ready")].status}."""
    inner = path.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    tokens = re.findall(r'\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_]+)==["\']?([^"\'\)]*)["\']?\)\]', inner)
    cur = obj
    for key, index, fkey, fval in tokens:
        if key:
            cur = cur.get(key) if isinstance(cur, dict) else None
        elif index:
            cur = cur[int(index)] if isinstance(cur, list) and int(index) < len(cur) else None
        else:
            cur = next((x for x in cur if isinstance(x, dict) and str(x.get(fkey)) == fval), None) if isinstance(cur, list) else None
        if cur is None:
            return None
    return cur


def check(pod: dict[str, Any] | None, cond: str) -> bool:
    if cond == "delete":
        return pod is None
    if pod is None:
        return False
    if cond.startswith("condition="):
        kind, _, want = cond[len("condition="):].partition("=")
        want = want or "True"
        return any(c["type"].lower() == kind.lower() and c["status"].lower() == want.lower()
                   for c in pod["status"].get("conditions", []))
    if cond.startswith("jsonpath="):
        # jsonpath='{.status.phase}'=Succeeded (the shell may or may not have eaten the quotes)
        m = re.fullmatch(r"""['"]?(\{.*\})['"]?(?:=(.*))?""", cond[len("jsonpath="):])
        if not m:
            raise PyruncError(f'unrecognized condition: "{cond}"')
        got = jsonpath_get(pod, m.group(1))
        return got is not None if m.group(2) is None else str(got) == m.group(2).strip("'\"")
    raise PyruncError(f'unrecognized condition: "{cond}"')


def run(cfg: Any, args: Any) -> int:
    names = parse_targets(args.args)
    if not names:
        raise PyruncError("resource name may not be empty")
    deadline = time.monotonic() + parse_timeout(args.timeout)
    for name in names:
        while True:
            try:
                pod: dict[str, Any] | None = load_pod(cfg, args.namespace, name)[1]
            except NotFound:
                if args.for_ != "delete":
                    raise
                pod = None
            if check(pod, args.for_):
                print(f"pod/{name} {'deleted' if args.for_ == 'delete' else 'condition met'}")
                break
            if time.monotonic() >= deadline:
                raise PyruncError(f"timed out waiting for the condition on pods/{name}")
            time.sleep(0.1)
    return 0
