"""Manifest text -> plain documents (YAML or JSON streams, Lists expanded), without the Pod model.

Split from load.py: parsing needs pyyaml but not the Pod model (whose import costs ~80 ms), and the two
run in different places for `pyrunc apply` (supervisor/intake.py).
"""

from __future__ import annotations

from typing import Any

from pyrunc.errors import FieldError, SpecError

class PodFieldError(FieldError):
    """A FieldError of one document in a multi-document stream; the message names the pod first."""

    def __init__(self, pod: str, error: FieldError) -> None:
        super().__init__(error.path, error.detail, error.hint)
        self.pod = pod
        self.message = f"{pod}: {self.message}"
        self.args = (self.message,)


# The API server refuses a request body over 3 MiB; pyrunc refuses a manifest input (a file or
# stdin) over the same size before parsing a byte of it.
MAX_MANIFEST_BYTES = 3 * 1024 * 1024
# A pod is ~15 levels deep; libyaml itself stops at 1000. Deeper than this is not a Pod.
MAX_DEPTH = 100
# Alias expansion, as go-yaml (kubectl's parser) bounds it: once a document has decoded more than
# 1000 nodes of which more than 100 came from aliases, the aliased share may not exceed 99 %
# (small documents) down to 10 % (4 million nodes). A "billion laughs" document is refused after a
# few thousand node visits, long before its expansion costs anything.
_ALIAS_MIN_DECODED, _ALIAS_MIN_ALIASED = 1000, 100
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_node_tree(root: Any) -> None:
    """Walk one composed YAML document as the decoder will see it (aliases expanded) and refuse
    duplicate mapping keys, nesting deeper than MAX_DEPTH, recursive aliases and excessive aliasing.

    Raises FieldError naming the field path. Iterative, so no input can exhaust Python's stack.
    """
    import yaml

    seen: set[int] = set()  # nodes decoded once already: meeting one again is an alias
    decoded = aliased = 0
    # (node, path, depth, under an alias, ids of the enclosing collections: a cycle check)
    stack: list[tuple[Any, str, int, bool, frozenset[int]]] = [(root, "", 1, False, frozenset())]
    while stack:
        node, path, depth, in_alias, ancestors = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in ancestors:
            raise FieldError(path, f"recursive alias at line {line}")
        is_alias = in_alias or id(node) in seen
        seen.add(id(node))
        decoded += 1
        aliased += is_alias
        if (aliased > _ALIAS_MIN_ALIASED and decoded > _ALIAS_MIN_DECODED
                and aliased / decoded > _allowed_alias_ratio(decoded)):
            raise FieldError(path, f"document contains excessive aliasing (line {line})")
        if depth > MAX_DEPTH:
            shown = path if len(path) <= 80 else path[:80] + "..."
            raise FieldError(shown, f"nesting deeper than {MAX_DEPTH} levels (line {line})")
        if isinstance(node, yaml.ScalarNode):
            continue
        inner = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(reversed(node.value)):
                stack.append((item, f"{path}[{len(node.value) - 1 - i}]", depth + 1, is_alias, inner))
            continue
        keys: dict[tuple[str, str], int] = {}
        children = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: explicit keys override it
                    children.append((value, path))
                    continue
                where = _child_path(path, key.value)
                here = key.start_mark.line + 1
                if (key.tag, key.value) in keys:
                    # A later duplicate would silently win (runAsUser: 1000, then runAsUser: 0).
                    raise FieldError(where, f'duplicate key at line {here}: mapping key "{key.value}" '
                                            f"already defined at line {keys[(key.tag, key.value)]}")
                keys[(key.tag, key.value)] = here
                children.append((value, where))
            else:
                children.append((key, path))
                children.append((value, path))
        for child, where in reversed(children):
            stack.append((child, where, depth + 1, is_alias, inner))


MAX_INT_DIGITS = 1000  # a YAML integer longer than this is kept as text (see construct_int)


def yaml_documents(text: str, source: str) -> list[Any]:
    import yaml  # lazy: the CLI's read-only verbs never parse YAML

    size = len(text) if len(text) > MAX_MANIFEST_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_MANIFEST_BYTES:
        raise SpecError([FieldError("", f"error parsing {source}: the manifest is larger than "
                                        f"{MAX_MANIFEST_BYTES} bytes (3 MiB, the API server's request limit)")], source)

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "\\'" in text:
        # kubectl's YAML parser (go-yaml) reads \' in a double-quoted string as a quote; PyYAML and
        # libyaml refuse it as an unknown escape. Only then the pure-Python scanner, taught that one.
        class GoEscapes(yaml.SafeLoader):
            ESCAPE_REPLACEMENTS = {**yaml.SafeLoader.ESCAPE_REPLACEMENTS, "'": "'"}  # type: ignore[misc]

        base = GoEscapes
    documents = 0

    class Loader(base):  # type: ignore[misc, valid-type]
        """Safe loader that keeps timestamps as text (creationTimestamp is a string in the API) and
        checks each composed document (duplicate keys, depth, aliases) before constructing it."""

        def construct_document(self, node: Any) -> Any:
            nonlocal documents
            documents += 1
            try:
                check_node_tree(node)
            except FieldError as e:
                error = PodFieldError(f"document {documents}", e) if documents > 1 else e
                raise SpecError([error], source) from None
            return super().construct_document(node)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))

    def construct_int(loader: Any, node: Any) -> Any:
        # Python refuses to convert more than 4300 digits (a ValueError deep inside PyYAML); such a
        # number stays text, and the field that gets it says what is wrong with it.
        if len(node.value) > MAX_INT_DIGITS:
            return loader.construct_scalar(node)
        return base.construct_yaml_int(loader, node)

    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    try:
        return list(yaml.load_all(text, Loader=Loader))
    except yaml.MarkedYAMLError as e:
        where = f"line {e.problem_mark.line + 1}, column {e.problem_mark.column + 1}: " if e.problem_mark else ""
        problem = e.problem or e.context or "invalid YAML"
        raise SpecError([FieldError("", f"error parsing {source}: {where}{problem}")], source) from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (a control character, say)
        char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
        raise SpecError([FieldError("", f"error parsing {source}: position {e.position}: "
                                        f"unacceptable character #x{char:04x}: {e.reason}")], source) from None
    except yaml.YAMLError as e:
        raise SpecError([FieldError("", f"error parsing {source}: {e}")], source) from None


def expand_documents(docs: list[Any]) -> tuple[list[tuple[str, object]], list[FieldError]]:
    """Expand ``kind: List`` and drop empty documents; give each remaining one a display path."""
    out: list[tuple[str, object]] = []
    errors: list[FieldError] = []
    for n, doc in enumerate(docs):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            items = doc.get("items") or []
            if not isinstance(items, list):
                errors.append(FieldError("items", "expected array"))
                continue
            out.extend((f"document {n + 1} items[{i}]", item) for i, item in enumerate(items))
        elif doc is not None:
            out.append((f"document {n + 1}", doc))
    return out, errors
