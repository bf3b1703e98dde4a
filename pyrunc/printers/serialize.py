"""``-o json``, ``-o yaml`` and ``-o name`` output, byte for byte as kubectl writes it.

kubectl prints an unstructured object: JSON via Go's json.MarshalIndent (4 spaces, map keys
sorted, HTML characters escaped) and YAML via sigs.k8s.io/yaml, i.e. go-yaml v2 (2-space
indent, sequences not indented under their key, keys in go-yaml's "natural" order, strings
quoted only when a plain scalar would read back as another type).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

# Go's encoding/json escapes these even inside strings (HTML safety and JS line separators).
_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
# go-yaml v2 reads these plain scalars as bool or null (YAML 1.1), so it quotes such strings.
_GO_YAML_WORDS = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "~ null Null NULL .inf .Inf .INF -.inf -.Inf -.INF +.inf +.Inf +.INF .nan .NaN .NAN <<".split()
)
# go-yaml v2 resolve(): yamlStyleFloat, tried on the string with "_" removed.
_GO_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def as_json(obj: Any) -> str:
    """``kubectl get -o json``: 4-space indent, sorted keys, trailing newline."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    # The escaped characters can only occur inside JSON strings, so a plain replace is safe.
    for char, escaped in _GO_JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text + "\n"


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The List object kubectl prints for ``get pods -o json|yaml`` of several pods."""
    return {"apiVersion": "v1", "items": list(items), "kind": "List", "metadata": {"resourceVersion": ""}}


def as_name(pod: dict[str, Any]) -> str:
    """``kubectl get -o name``."""
    return "pod/" + str((pod.get("metadata") or {}).get("name", ""))


def _go_yaml_key_cmp(a: str, b: str) -> int:
    """go-yaml v2 keyList.Less: letters after other characters, digit runs compared as numbers."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        a_letter, b_letter = a[i].isalpha(), b[i].isalpha()
        if a_letter and b_letter:
            return -1 if a[i] < b[i] else 1
        if a_letter or b_letter:
            return -1 if b_letter else 1
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            # A zero inside a number (not leading zeros): compare by value from here.
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + ord(a[ai]) - 48
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + ord(b[bi]) - 48
            bi += 1
        if an != bn:
            return -1 if an < bn else 1
        if ai != bi:
            return -1 if ai < bi else 1
        return -1 if a[i] < b[i] else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def _go_yaml_order(obj: Any) -> Any:
    """A copy of ``obj`` whose dicts iterate in go-yaml's key order."""
    if isinstance(obj, dict):
        keys = sorted((str(k) for k in obj), key=functools.cmp_to_key(_go_yaml_key_cmp))
        by_str = {str(k): v for k, v in obj.items()}
        return {k: _go_yaml_order(by_str[k]) for k in keys}
    if isinstance(obj, (list, tuple)):
        return [_go_yaml_order(v) for v in obj]
    return obj


def as_yaml(obj: Any) -> str:
    """``kubectl get -o yaml``."""
    import yaml  # lazy: not needed by the table output

    class _Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style: str | None = None
        if "\n" in value:
            style = "|"
        elif _reads_as_other_type(dumper, value):
            style = '"'
        # Otherwise plain; the emitter itself falls back to single quotes when plain is not
        # allowed (": ", leading "-", ...), as go-yaml's emitter (both ports of libyaml) does.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, represent_str)
    return yaml.dump(
        _go_yaml_order(obj), Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=80
    )


def _reads_as_other_type(dumper: Any, value: str) -> bool:
    import yaml

    if value == "" or value in _GO_YAML_WORDS or _GO_YAML_FLOAT.fullmatch(value.replace("_", "")):
        return True
    tag = dumper.resolve(yaml.ScalarNode, value, (True, False))
    # PyYAML's "=" (value) tag means nothing to go-yaml.
    return tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:value")
