"""Property tests (hypothesis): quantities parsed exactly as Kubernetes' grammar says, and manifests,
random or mutated from real ones, never produce a traceback: a Pod, or a SpecError naming fields."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.errors import FieldError, PyruncError
from pyrunc.spec.load import load_manifests, pod_from_dict, pod_to_dict
from pyrunc.spec.quantity import MAX_EXPONENT, parse_quantity
from tests.mutations import paths

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ quantities
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

digits = st.text("0123456789", min_size=1, max_size=25)


@st.composite
def quantity_text(draw: Any) -> tuple[str, Fraction]:
    """A quantity in the grammar, with its value computed another way (Decimal, then an exact scale)."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(digits)
    form = draw(st.sampled_from(["int", "frac", "trailing-dot", "leading-dot"]))
    frac = draw(digits)
    number = {"int": whole, "frac": f"{whole}.{frac}", "trailing-dot": f"{whole}.", "leading-dot": f".{frac}"}[form]
    kind = draw(st.sampled_from(["binary", "decimal", "exponent"]))
    value = Fraction(Decimal(number.rstrip(".") or "0"))
    if kind == "binary":
        suffix = draw(st.sampled_from(sorted(BINARY)))
        value *= BINARY[suffix]
    elif kind == "decimal":
        suffix = draw(st.sampled_from(sorted(DECIMAL)))
        value *= Fraction(10) ** DECIMAL[suffix]
    else:
        e = draw(st.integers(-40, 40))
        suffix = draw(st.sampled_from(["e", "E"])) + (draw(st.sampled_from(["", "+"])) if e >= 0 else "") + str(e)
        value *= Fraction(10) ** e
    return sign + number + suffix, -value if sign == "-" else value


@SETTINGS
@given(quantity_text())
def test_a_quantity_in_the_grammar_has_its_exact_value(case: tuple[str, Fraction]) -> None:
    text, value = case
    q = parse_quantity(text)
    assert q.amount == value and str(q) == text
    # Value() and MilliValue() round up away from zero, as Kubernetes' do.
    for got, scaled in ((q.value(), value), (q.milli_value(), value * 1000)):
        assert got == scaled or (abs(got) == abs(int(scaled)) + 1 and abs(got) > abs(scaled))


@SETTINGS
@given(st.text(max_size=40))
def test_any_text_is_a_quantity_or_one_field_error(text: str) -> None:
    try:
        q = parse_quantity(text)
    except FieldError as e:
        assert e.message.startswith("invalid quantity") and "\n" not in e.message.replace(text, "")
        return
    assert parse_quantity(str(q)) == q


@pytest.mark.parametrize("text", ["1e999999999", "1E-999999999", f"1e{MAX_EXPONENT + 1}", "1" * 5000,
                                  "0." + "0" * 4999 + "1"])
def test_huge_quantities_are_refused_at_once(text: str) -> None:
    with pytest.raises(FieldError, match="invalid quantity"):
        parse_quantity(text)


# ------------------------------------------------------------------ manifests
BASE = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "restartPolicy": "Always",
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [{
            "name": "c", "image": "busybox:1.36", "command": ["sh", "-c"], "args": ["sleep 1"],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)"}],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
            "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
        }],
    },
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=3)),
                      max_leaves=12)


def _decodes_or_names_fields(data: object) -> None:
    try:
        pod = pod_from_dict(data)
    except PyruncError as e:
        assert e.message and "Traceback" not in e.message
        return
    # Whatever is accepted encodes back to the v1 form and decodes to the same pod.
    assert pod_from_dict(json.loads(json.dumps(pod_to_dict(pod)))) == pod


@SETTINGS
@given(st.data())
def test_a_mutated_pod_is_a_pod_or_field_errors(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(doc)))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=15))] = data.draw(values)
        else:
            parent[path[-1]] = data.draw(values)
    _decodes_or_names_fields(doc)


@SETTINGS
@given(values)
def test_any_document_is_a_pod_or_field_errors(doc: Any) -> None:
    _decodes_or_names_fields(doc)


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_is_pods_or_one_error(text: str) -> None:
    try:
        load_manifests(text)
    except PyruncError as e:
        assert e.message
    # Also as YAML around a real pod: a stray line anywhere.
    lines = yaml.safe_dump(BASE).splitlines()
    try:
        load_manifests("\n".join(lines[:5] + [text] + lines[5:]))
    except PyruncError as e:
        assert e.message


@pytest.mark.parametrize("value, message", [
    ("1" + "0" * 5000, "5001 digits, more than the 1000 a quantity may have"),
    ("1e999999999", "exponent out of range"),
    (".inf", 'invalid quantity "inf"'),
])
def test_a_pathological_yaml_quantity_names_its_field(value: str, message: str) -> None:
    text = yaml.safe_dump(BASE).replace("memory: 128Mi", f"memory: {value}")
    with pytest.raises(PyruncError) as e:
        load_manifests(text)
    assert e.value.message.startswith("spec.containers[0].resources.limits.memory: ") and message in e.value.message


def test_a_huge_yaml_integer_is_a_field_error() -> None:
    text = yaml.safe_dump(BASE).replace("containerPort: 80", "containerPort: " + "9" * 5000)
    with pytest.raises(PyruncError) as e:
        load_manifests(text)
    assert e.value.message.startswith("spec.containers[0].ports[0].containerPort: ")

