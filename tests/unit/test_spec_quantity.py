from __future__ import annotations

from fractions import Fraction

import pytest

from pyrunc.errors import FieldError
from pyrunc.spec import parse_quantity


@pytest.mark.parametrize(("text", "amount", "value", "milli"), [
    ("100m", Fraction(1, 10), 1, 100),
    ("0.5", Fraction(1, 2), 1, 500),
    ("1Gi", Fraction(1073741824), 1073741824, 1073741824000),
    ("1e3", Fraction(1000), 1000, 1000000),
    ("1E3", Fraction(1000), 1000, 1000000),
    ("1.5Mi", Fraction(1572864), 1572864, 1572864000),
    ("-1", Fraction(-1), -1, -1000),
    ("1m", Fraction(1, 1000), 1, 1),
    ("1n", Fraction(1, 10**9), 1, 1),
    ("2k", Fraction(2000), 2000, 2000000),
    ("1E", Fraction(10**18), 10**18, 10**21),
    ("1Ki", Fraction(1024), 1024, 1024000),
    ("1.", Fraction(1), 1, 1000),
    (".5", Fraction(1, 2), 1, 500),
    ("+3", Fraction(3), 3, 3000),
    ("1e-3", Fraction(1, 1000), 1, 1),
    (2, Fraction(2), 2, 2000),
    (0.25, Fraction(1, 4), 1, 250),
])
def test_parse(text: str | int | float, amount: Fraction, value: int, milli: int) -> None:
    q = parse_quantity(text)
    assert q.amount == amount
    assert q.value() == value
    assert q.milli_value() == milli


@pytest.mark.parametrize("text", ["12Q", "1MB", ".", "Mi", "1 Gi", "1.2.3", "", "1e", "e3", "1mi", "- 1", "0x10"])
def test_invalid(text: str) -> None:
    with pytest.raises(FieldError) as e:
        parse_quantity(text)
    assert str(e.value) == f'invalid quantity "{text}"'


def test_bool_is_not_a_quantity() -> None:
    with pytest.raises(FieldError):
        parse_quantity(True)


def test_text_is_kept_and_equality_is_by_value() -> None:
    assert str(parse_quantity("500m")) == "500m"
    assert str(parse_quantity(1)) == "1"
    assert str(parse_quantity(0.5)) == "0.5"
    assert parse_quantity("0.5") == parse_quantity("500m")
    assert hash(parse_quantity("1Ki")) == hash(parse_quantity("1024"))
    assert parse_quantity("1Mi") != parse_quantity("1M")
    assert parse_quantity("1M") < parse_quantity("1Mi")
