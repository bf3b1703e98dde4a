"""Quantities for describe: the spec's own grammar (pyrunc.spec.quantity), as an exact Fraction or None."""

from __future__ import annotations

from fractions import Fraction

from pyrunc.errors import FieldError
from pyrunc.spec.quantity import parse_quantity as parse_spec_quantity


def parse_quantity(value: object) -> Fraction | None:
    """``"250m"`` -> 1/4, ``"64Mi"`` -> 67108864, ``2`` -> 2; None when not a quantity."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return parse_spec_quantity(value.strip() if isinstance(value, str) else value).amount
    except FieldError:
        return None
