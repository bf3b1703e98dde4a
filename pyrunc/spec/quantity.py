"""Kubernetes resource quantities ("250m", "64Mi", "1e3"), parsed exactly.

Grammar (k8s.io/apimachinery/pkg/api/resource, quantity.go):
  quantity ::= [+-] number suffix
  number   ::= digits | digits "." digits | digits "." | "." digits
  suffix   ::= "" | binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m k M G T P E) | ("e"|"E") [+-] digits
The value is kept as an exact Fraction; the text is kept as written, for printing back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from pyrunc.errors import FieldError

_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?")

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _ceil_away_from_zero(x: Fraction) -> int:
    """Round to an integer away from zero, as Quantity.Value()/MilliValue() do on inexact values."""
    whole = int(x)  # truncates toward zero
    if whole == x:
        return whole
    return whole + (1 if x > 0 else -1)


@dataclass(frozen=True, slots=True, eq=False)
class Quantity:
    """An exact resource amount. Equal when the values are equal ("0.5" == "500m"); str() is the original text."""

    amount: Fraction
    text: str

    def value(self) -> int:
        """The value rounded up to an integer (k8s ``Value()``): "1m" -> 1, "1.5" -> 2."""
        return _ceil_away_from_zero(self.amount)

    def milli_value(self) -> int:
        """value x 1000 rounded up (k8s ``MilliValue()``): "100m" -> 100, "0.5" -> 500."""
        return _ceil_away_from_zero(self.amount * 1000)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Quantity({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount == other.amount

    def __hash__(self) -> int:
        return hash(self.amount)

    def __lt__(self, other: Quantity) -> bool:
        return self.amount < other.amount

    def __le__(self, other: Quantity) -> bool:
        return self.amount <= other.amount

    def __add__(self, other: Quantity) -> Quantity:
        """The sum, printed in the canonical form of the left operand's format (resource.Quantity.Add
        keeps the receiver's format): 1 + 500m -> "1500m", 1Gi + 512Mi -> "1536Mi"."""
        amount = self.amount + other.amount
        return Quantity(amount, canonical_text(amount, binary=self.text.endswith("i")))


_DECIMAL_STEPS = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""), (-3, "m"), (-6, "u"), (-9, "n"))
_BINARY_STEPS = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def canonical_text(amount: Fraction, binary: bool = False) -> str:
    """How Kubernetes prints an amount: the largest suffix that keeps the number whole (an amount finer
    than 1n is rounded up to it). Binary format falls back to decimal below 1Ki or for a fraction."""
    if binary and amount.denominator == 1 and abs(amount) >= 1024:
        whole, step = int(amount), 0
        while whole % 1024 == 0 and step < len(_BINARY_STEPS) - 1:
            whole, step = whole // 1024, step + 1
        return f"{whole}{_BINARY_STEPS[step]}"
    if amount == 0:
        return "0"
    for exponent, suffix in _DECIMAL_STEPS:
        scaled = amount / Fraction(10) ** exponent
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    return f"{_ceil_away_from_zero(amount * 10**9)}n"


def _text_of(raw: str | int | float) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise FieldError("", f"invalid quantity {raw!r}")
    if isinstance(raw, float):
        # YAML 0.5 or 1e3 arrive as floats; print them as a person would have written them.
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return str(raw)


# Bounds the exact arithmetic needs and Kubernetes has in effect: its exponent is an int32 and every
# value the kubelet uses must fit an int64 (at most 19 digits). Beyond these a quantity is refused
# with its reason, instead of costing unbounded time and memory ("1e999999999") or tripping Python's
# limit on converting long digit strings.
MAX_DIGITS = 1000
MAX_EXPONENT = 1000


def parse_quantity(raw: str | int | float) -> Quantity:
    """Parse a quantity; raise FieldError (no path) ``invalid quantity "12Q"`` when it does not match the grammar."""
    text = _text_of(raw)
    m = _QUANTITY.fullmatch(text)
    if m is None:
        raise FieldError("", f'invalid quantity "{text if len(text) <= 80 else text[:77] + "..."}"')
    number, suffix = m.group(1), m.group(2) or ""
    if len(number) > MAX_DIGITS:
        raise FieldError("", f"invalid quantity: {len(number)} digits, more than the {MAX_DIGITS} a quantity may have")
    if suffix in _BINARY:
        scale, exponent = Fraction(1024) ** _BINARY[suffix], 0
    elif suffix in _DECIMAL:
        scale, exponent = Fraction(1), _DECIMAL[suffix]
    else:
        exponent = int(suffix[1:]) if len(suffix) <= 12 else MAX_EXPONENT + 1
        scale = Fraction(1)
    if abs(exponent) > MAX_EXPONENT:
        raise FieldError("", f'invalid quantity "{text[:80]}": exponent out of range (at most {MAX_EXPONENT} either way)')
    amount = Fraction(number) * scale * Fraction(10) ** exponent  # Fraction parses "1.", ".5", "+3" exactly
    return Quantity(amount, text)
