"""The core's ISO 4217 table is the ``iso4217`` package's (the official list): regenerate it with
``tools/gen_currencies.py`` the day this fails. Every money function works in a commodity's own
minor units, and an unknown commodity is refused, loudly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.core.currencies import MINOR_UNITS
from ledger.core.money import MoneyError, fmt, places, split, to_minor

iso4217 = pytest.importorskip("iso4217", reason="the iso4217 package is in the dev extra")


def test_the_table_is_the_iso4217_packages():
    assert MINOR_UNITS == {c.code: c.exponent for c in iso4217.Currency if c.exponent is not None}


@pytest.mark.parametrize(("code", "n", "text"), [("USD", 2, "220.00"), ("JPY", 0, "220"), ("BHD", 3, "220.000"),
                                                 ("CLF", 4, "220.0000"), ("UNITS", 0, "220")])
def test_each_commodity_has_its_own_places(code, n, text):
    assert places(code) == n
    assert fmt(Decimal(220), code) == text


@pytest.mark.parametrize("code", ["XAU", "XXX", "ABC", "usd", ""])
def test_an_unknown_commodity_is_refused(code):
    with pytest.raises(MoneyError):
        places(code)


def test_a_split_in_yen_gives_whole_yen_and_in_dinars_whole_fils():
    assert split(Decimal("10"), [1, 1, 1], "JPY") == [Decimal(4), Decimal(3), Decimal(3)]
    assert split(Decimal("0.010"), [1, 1, 1], "BHD") == [Decimal("0.004"), Decimal("0.003"), Decimal("0.003")]
    with pytest.raises(MoneyError):
        to_minor(Decimal("1.5"), "JPY")
