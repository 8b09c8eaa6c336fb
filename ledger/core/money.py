"""Money and quantities: every Decimal in the product is made and divided here.

Design
- ``D()`` is the one way to make a Decimal from outside input. It refuses floats, because a float
  has already lost the cents it claims to carry: pass a string (``D("12.50")``) instead.
- Every amount belongs to a commodity, and every function that rounds, formats, splits or counts
  minor units is told which (no default currency): a currency has its ISO 4217 minor units
  (``currencies.MINOR_UNITS``: USD 2, JPY 0, BHD 3), ``UNITS`` are whole, and any other code is a
  ``MoneyError``. ``check_places`` refuses more decimals than a commodity allows rather than
  rounding them away silently.
- ``split()`` is the contract's splitting rule (CONTRACT §4), used everywhere money or units are
  divided: floors in cents, leftover cents to the largest fractional remainders, ties to the earlier
  weight, then the sign. Shares always sum to the amount exactly.
- ``round_half_even`` is the only other rounding, used where the contract says "half-even".

Nothing here imports Flask or SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from math import gcd

from ledger.core.currencies import MINOR_UNITS

ZERO = Decimal("0")
UNITS = "UNITS"

#: The most decimal places any commodity has (ISO 4217's CLF and UYW): what the database stores.
MAX_PLACES = max(MINOR_UNITS.values())

#: The largest magnitude an amount may be given with — through the API, a web form or an import
#: line: less than a trillion, in any commodity.
MAX_AMOUNT = Decimal(10) ** 12
#: The largest magnitude the ledger stores: an amount's integer of ten-thousandths (``MAX_PLACES``)
#: fits a signed 64-bit column. Larger than ``MAX_AMOUNT`` because what the product computes (a
#: close's pool, a buyout) may sum many amounts given; ``check_places`` refuses anything larger,
#: so no write overflows in the database. ``MAX_STORED_UNITS`` is the same bound as the stored
#: integer, which every maintained sum (a balance, a month's total) keeps too.
MAX_STORED_UNITS = 2**63 - 1
MAX_STORED = Decimal(MAX_STORED_UNITS).scaleb(-MAX_PLACES)

#: ASCII digits only (CONTRACT §7): ``Decimal("١٢٣.٤٥")`` would otherwise be 123.45.
_MONEY_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_PERCENT_RE = re.compile(r"([0-9]{1,3})(\.[0-9]{1,6})?%")


class MoneyError(ValueError):
    """An amount that is not an exact decimal, or has more decimals than its commodity allows."""


def D(value: str | int | Decimal) -> Decimal:
    """Make a Decimal from a string, an int or a Decimal; refuse floats and non-numbers."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"{value!r} is a float; give money as a string such as \"12.50\"")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"{value} is not a finite number")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not _MONEY_RE.fullmatch(text):
            raise MoneyError(f"{value!r} is not a decimal number such as \"12.50\"")
        try:
            return Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
            raise MoneyError(f"{value!r} is not a number") from exc
    raise MoneyError(f"{value!r} is not a number; give it as a string such as \"12.50\"")


def places(commodity: str) -> int:
    """Decimal places a commodity allows: a currency's ISO 4217 minor units, 0 for ``UNITS``."""
    if commodity == UNITS:
        return 0
    try:
        return MINOR_UNITS[commodity]
    except KeyError:
        raise MoneyError(f"{commodity!r} is not a currency with minor units in ISO 4217, nor UNITS") from None


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency with minor units (what a charter may name)."""
    return code in MINOR_UNITS


_DECIMALS = {0: "no decimals", 1: "one decimal", 2: "two decimals", 3: "three decimals", 4: "four decimals"}


def decimals_allowed(commodity: str) -> str:
    """``"at most two decimals for USD"`` (``"no decimals for JPY"``): what a refusal says."""
    n = places(commodity)
    return f"{'at most ' if n else ''}{_DECIMALS[n]} for {commodity}"


def check_places(amount: Decimal, commodity: str) -> Decimal:
    """Return ``amount`` if it has at most the commodity's decimals and can be stored (at most
    ``MAX_STORED`` in magnitude), else raise ``MoneyError``."""
    if not amount.is_finite() or abs(amount) > MAX_STORED:
        raise MoneyError(f"{amount} is too large to store: at most {MAX_STORED} in magnitude")
    allowed = places(commodity)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > allowed:
        # "1.50" has exponent -2 but "1.500" only looks longer: decide on the normalized form.
        exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > allowed:
        raise MoneyError(f"{amount} has more decimals than {commodity} allows: {decimals_allowed(commodity)}")
    return amount


def quantize(amount: Decimal, commodity: str) -> Decimal:
    """Give ``amount`` exactly the commodity's places. Only for amounts already exact to them."""
    check_places(amount, commodity)
    return amount.quantize(Decimal(1).scaleb(-places(commodity)))


def round_half_even(amount: Decimal | Fraction, commodity: str) -> Decimal:
    """Round to the commodity's places, half to even (banker's rounding)."""
    if isinstance(amount, Fraction):
        amount = Decimal(amount.numerator) / Decimal(amount.denominator)
    return amount.quantize(Decimal(1).scaleb(-places(commodity)), rounding=ROUND_HALF_EVEN)


def fmt(amount: Decimal, commodity: str) -> str:
    """Format with exactly the commodity's places: ``fmt(D("5"), "USD")`` is ``"5.00"``, in JPY ``"5"``."""
    if not amount:
        amount = abs(amount)  # never "-0.00"
    if amount.as_tuple().exponent == -places(commodity):
        return str(amount)  # already exact to the places (the common case): no re-quantizing
    return str(quantize(amount, commodity))


def fmt_minor(minor: int, commodity: str) -> str:
    """Integer minor units as the contract's amount text: ``-12345`` USD → ``"-123.45"`` (never
    ``-0.00``). For reads that sum integer minor units straight off the database."""
    n = places(commodity)
    sign = "-" if minor < 0 else ""
    if n == 0:
        return f"{sign}{abs(minor)}"
    q, r = divmod(abs(minor), 10 ** n)
    return f"{sign}{q}.{r:0{n}d}"


def minor_formatter(commodity: str) -> Callable[[int], str]:
    """``fmt_minor`` for one commodity, its places looked up once: what a read that formats
    thousands of amounts in one currency (a statement's lines) calls per amount. Same text."""
    n = places(commodity)
    if n == 0:
        return str
    scale = 10 ** n

    def text(minor: int) -> str:
        if minor < 0:
            q, r = divmod(-minor, scale)
            return f"-{q}.{r:0{n}d}"
        q, r = divmod(minor, scale)
        return f"{q}.{r:0{n}d}"
    return text


def display(amount: Decimal | None, commodity: str, brackets: bool = False) -> str:
    """An amount for people: thousands separators, exactly the commodity's places, and a true minus
    sign (``Decimal("-1234.5")`` → ``"−1,234.50"``), or brackets as accountants write it
    (``"(1,234.50)"``); ``"—"`` for no amount. The web's filters and the PDF write amounts with this."""
    if amount is None:
        return "\u2014"
    text = f"{abs(amount):,.{places(commodity)}f}"
    if amount < 0:
        return f"({text})" if brackets else f"\u2212{text}"
    return text


def parse_percent(text: str) -> Decimal:
    """``"70%"`` → ``Decimal("0.7")``. Refuses anything that is not a percentage in 0..100."""
    if not isinstance(text, str):
        raise MoneyError(f"{text!r} is not a percentage such as \"70%\"")
    match = _PERCENT_RE.fullmatch(text.strip())
    if not match:
        raise MoneyError(f"{text!r} is not a percentage such as \"70%\"")
    value = Decimal(text.strip()[:-1])
    if value > 100:
        raise MoneyError(f"{text!r} is more than 100%")
    return value / 100


def format_percent(fraction: Decimal) -> str:
    """``Decimal("0.7")`` → ``"70%"``; keeps every significant digit, drops trailing zeros."""
    value = (fraction * 100).normalize()
    text = format(value, "f")
    return f"{text}%"


@lru_cache(maxsize=4096)
def _integer_weights(weights: tuple[Decimal | Fraction | int, ...]) -> tuple[int, ...]:
    """The weights scaled to integers with the same ratios (exactly), so the split needs no
    fractions: decimals by a power of ten, fractions by the lcm of their denominators."""
    if all(isinstance(w, int) for w in weights):
        return tuple(weights)
    if all(isinstance(w, Decimal) for w in weights):
        shift = max(0, *(-w.as_tuple().exponent for w in weights))
        return tuple(int(w.scaleb(shift)) for w in weights)
    fracs = [w if isinstance(w, Fraction) else Fraction(w) for w in weights]
    denominator = 1
    for f in fracs:
        denominator = denominator * f.denominator // gcd(denominator, f.denominator)
    return tuple(int(f * denominator) for f in fracs)


def integer_weights(weights: Sequence[Decimal | Fraction | int]) -> tuple[int, ...]:
    """Check split weights (exact, not negative, not all zero) and scale them to integers with the
    same ratios. Callers that split many amounts by the same weights convert them once."""
    if not weights:
        raise MoneyError("cannot split among nobody")
    if any(isinstance(w, float) for w in weights):
        raise MoneyError("split weights must be exact (int, Decimal or Fraction), not float")
    ints = _integer_weights(tuple(weights))  # cached: a close splits by the same weights thousands of times
    if any(w < 0 for w in ints):
        raise MoneyError("split weights must not be negative")
    if sum(ints) == 0:
        raise MoneyError("split weights must not all be zero")
    return ints


def split_minor(minor: int, ints: Sequence[int]) -> list[int]:
    """The splitting rule on an integer amount of minor units (cents) and integer weights (from
    ``integer_weights``): each share is ⌊|A|·wᵢ/Σw⌋, the units left over go one each to the largest
    remainders, ties to the earlier weight, then the sign of A. Integers only, so it is exact —
    and fast enough to run a few hundred thousand times in one close."""
    total = sum(ints)
    magnitude = -minor if minor < 0 else minor
    floors = []
    remainders = []
    for w in ints:
        q, r = divmod(magnitude * w, total)
        floors.append(q)
        remainders.append(r)  # remainders share the denominator ``total``: compare them directly
    left = magnitude - sum(floors)
    if left:
        # Largest remainder first; Python's sort is stable, so ties keep the earlier weight first.
        for i in sorted(range(len(ints)), key=remainders.__getitem__, reverse=True)[:left]:
            floors[i] += 1
    if minor < 0:
        return [-f for f in floors]
    return floors


def to_minor(amount: Decimal, commodity: str) -> int:
    """An amount as an integer of minor units (``12.50`` USD → 1250); refuses extra decimals."""
    shifted = amount.scaleb(places(commodity))
    minor = int(shifted)
    if minor != shifted:
        raise MoneyError(f"{amount} has more than {places(commodity)} decimal places for {commodity}")
    return minor


def from_minor(minor: int, commodity: str) -> Decimal:
    """Minor units back to an amount with exactly the commodity's places (1250 → ``12.50``)."""
    return Decimal(minor).scaleb(-places(commodity))


def split(amount: Decimal, weights: Sequence[Decimal | Fraction | int], commodity: str) -> list[Decimal]:
    """Split ``amount`` by ``weights`` with the contract's largest-remainder rule.

    Each share is ⌊|A|·wᵢ/Σw⌋ in minor units; the minor units left over go one each to the
    largest fractional remainders, ties to the earlier weight; then the sign of A is applied.
    Zero weights get nothing. Exact: the weights are scaled to integers with the same ratios, so
    every quotient and remainder is an integer (no float, no rounding).
    """
    ints = integer_weights(weights)
    exponent = -places(commodity)
    return [Decimal(f).scaleb(exponent) for f in split_minor(to_minor(amount, commodity), ints)]
