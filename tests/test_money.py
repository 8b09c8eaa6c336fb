"""The contract's splitting rule and the money helpers (pure; no fixtures)."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.money import (
    D,
    MoneyError,
    check_places,
    format_percent,
    parse_percent,
    round_half_even,
    split,
)

amounts = st.integers(min_value=-10**11, max_value=10**11).map(lambda c: Decimal(c) / 100)
weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(any)


def test_worked_example_engagement_one():
    # e1: net 6,666.66 by 10/60/30 → pool gets the first leftover cent, origination the second.
    assert split(D("6666.66"), [10, 60, 30], "USD") == [D("666.67"), D("3999.99"), D("2000.00")]


def test_worked_example_engagement_two_and_practice():
    assert split(D("1234.57"), [10, 60, 30], "USD") == [D("123.46"), D("740.74"), D("370.37")]
    assert split(D("740.74"), [D("0.7"), D("0.3")], "USD") == [D("518.52"), D("222.22")]


def test_worked_example_pool():
    assert split(D("1870.37"), [500, 250, 250], "USD") == [D("935.19"), D("467.59"), D("467.59")]


def test_ties_go_to_the_earlier_weight():
    assert split(D("0.01"), [1, 1, 1], "USD") == [D("0.01"), D("0.00"), D("0.00")]
    assert split(D("0.02"), [1, 1, 1], "USD") == [D("0.01"), D("0.01"), D("0.00")]


def test_negative_amounts_split_by_magnitude_then_take_the_sign():
    assert split(D("-0.02"), [1, 1, 1], "USD") == [D("-0.01"), D("-0.01"), D("0.00")]
    assert split(D("-100.00"), [1, 2], "USD") == [D("-33.33"), D("-66.67")]


def test_units_split_in_whole_units():
    assert split(D("10"), [1, 1, 1], "UNITS") == [D("4"), D("3"), D("3")]


@pytest.mark.parametrize("bad", [[], [0, 0], [1, -1]])
def test_split_refuses_no_weight_zero_total_or_negative(bad):
    with pytest.raises(MoneyError):
        split(D("1.00"), bad, "USD")


@given(amounts, weights)
def test_shares_sum_exactly_to_the_amount(amount, ws):
    shares = split(amount, ws, "USD")
    assert sum(shares) == amount
    assert len(shares) == len(ws)


@given(amounts, weights)
def test_every_share_carries_the_sign_and_stays_within_a_cent_of_exact(amount, ws):
    total = sum(ws)
    for share, w in zip(split(amount, ws, "USD"), ws, strict=True):
        exact = Fraction(amount) * w / total
        assert abs(Fraction(share) - exact) < Fraction(1, 100)
        assert share == 0 or (share > 0) == (amount > 0)


@given(amounts, weights)
def test_zero_weights_get_nothing(amount, ws):
    for share, w in zip(split(amount, ws, "USD"), ws, strict=True):
        if w == 0:
            assert share == 0


@given(amounts)
def test_one_weight_takes_everything(amount):
    assert split(amount, [7], "USD") == [amount]


@given(amounts, weights)
def test_split_is_symmetric_in_sign(amount, ws):
    assert split(-amount, ws, "USD") == [-s for s in split(amount, ws, "USD")]


@pytest.mark.parametrize("bad", [1.5, "1.5.0", "abc", "", None, True, "1e5", "NaN",
                                 "١٢٣.٤٥", "１０", "12.٥", "৫"])  # CONTRACT §7: ASCII digits only
def test_D_refuses_floats_and_non_numbers(bad):
    with pytest.raises(MoneyError):
        D(bad)


def test_places_are_checked_not_rounded():
    assert check_places(D("1.50"), "USD") == D("1.50")
    with pytest.raises(MoneyError):
        check_places(D("1.505"), "USD")
    with pytest.raises(MoneyError):
        check_places(D("1.5"), "UNITS")


def test_round_half_even():
    assert round_half_even(D("0.125"), "USD") == D("0.12")
    assert round_half_even(D("0.135"), "USD") == D("0.14")
    assert round_half_even(Fraction(1, 3), "USD") == D("0.33")


@pytest.mark.parametrize("text,value", [("70%", D("0.7")), ("33.5%", D("0.335")), ("0%", D("0")), ("100%", D("1"))])
def test_percent_round_trip(text, value):
    assert parse_percent(text) == value
    assert format_percent(value) == text


@pytest.mark.parametrize("bad", ["70", "101%", "-5%", "abc%", 70, "7 0%", "٥٠%", "５0%"])
def test_bad_percent(bad):
    with pytest.raises(MoneyError):
        parse_percent(bad)


def test_fmt_never_shows_a_negative_zero():
    from ledger.core.money import fmt

    assert fmt(-D("0.00"), "USD") == "0.00"
    assert fmt(D("5"), "USD") == "5.00"
    assert fmt(D("400.00"), "UNITS") == "400"


@given(st.integers(min_value=-10**20, max_value=10**20), st.sampled_from(["USD", "JPY", "BHD", "UNITS"]))
def test_a_commodity_s_minor_formatter_writes_what_fmt_minor_writes(minor, commodity):
    from ledger.core.money import fmt_minor, minor_formatter

    assert minor_formatter(commodity)(minor) == fmt_minor(minor, commodity)


@given(amounts, weights)
def test_the_integer_split_is_the_decimal_split_in_cents(amount, ws):
    """``split_minor`` (what a close runs 40,000 times) gives exactly ``split``'s shares, and sums
    to the amount in cents."""
    from ledger.core.money import integer_weights, split_minor, to_minor

    minor = to_minor(amount, "USD")
    shares = split_minor(minor, integer_weights(ws))
    assert sum(shares) == minor
    assert [to_minor(d, "USD") for d in split(amount, ws, "USD")] == shares


def test_to_minor_refuses_fractions_of_a_cent():
    from ledger.core.money import from_minor, to_minor

    assert to_minor(D("12.50"), "USD") == 1250 and to_minor(D("1.500"), "USD") == 150 and to_minor(D("7"), "UNITS") == 7
    assert str(from_minor(-5, "USD")) == "-0.05" and str(from_minor(0, "USD")) == "0.00"
    with pytest.raises(MoneyError):
        to_minor(D("0.001"), "USD")
    with pytest.raises(MoneyError):
        to_minor(D("1.5"), "UNITS")


@given(st.lists(st.integers(min_value=1, max_value=2**63 - 1), min_size=1, max_size=6),
       st.lists(st.integers(min_value=1, max_value=2**63 - 1), min_size=1, max_size=6), st.randoms())
def test_an_entry_check_legs_accepts_sums_within_what_the_ledger_stores_in_any_order(debits, credits, rnd):
    """Whatever its postings, an entry ``check_legs`` accepts has every partial sum of a commodity's
    amounts — in any order, as a balance check or an account's total sums them — within
    ``MAX_STORED``; one it refuses for that reason has debits past it."""
    from ledger.core.entries import Leg, check_legs
    from ledger.core.errors import ValidationError
    from ledger.core.money import MAX_STORED

    scale = Decimal("0.0001")
    ups, downs = [Decimal(d) * scale for d in debits], [Decimal(c) * scale for c in credits]
    total = sum(ups) - sum(downs)  # balance the entry with one more posting on the short side
    legs = [Leg("Assets:Cash", a, "CLF") for a in ups] + [Leg("Equity:Capital:ana", -a, "CLF") for a in downs]
    if total:
        legs.append(Leg("Equity:Capital:ben", -total, "CLF"))
    try:
        check_legs(legs)
    except ValidationError as exc:
        per_posting = [m for k, ms in exc.errors.items() if k != "postings" for m in ms]
        if per_posting:  # only the balancing posting can be too large alone
            assert abs(total) > MAX_STORED and all("too large to store" in m for m in per_posting)
        else:
            assert "beyond what the ledger can store" in exc.errors["postings"][0]
            assert sum(leg.amount for leg in legs if leg.amount > 0) > MAX_STORED
        return
    order = [leg.amount for leg in legs]
    rnd.shuffle(order)
    running = Decimal(0)
    for amount in order:
        running += amount
        assert abs(running) <= MAX_STORED
