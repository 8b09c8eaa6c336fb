"""Tallying votes (pure, exact): quorum, threshold, outcome. Fractions, never floats."""

from __future__ import annotations

import re
from fractions import Fraction

_FRACTION_RE = re.compile(r"^(\d+)/(\d+)$")


def parse_threshold(text: str) -> Fraction | None:
    """``"majority"`` → None (strictly more than half); ``"2/3"`` → Fraction(2, 3) (at least)."""
    if text == "majority":
        return None
    m = _FRACTION_RE.match(text or "") if isinstance(text, str) else None
    if not m or int(m.group(2)) == 0:
        raise ValueError(f"{text!r} is not 'majority' or a fraction like '2/3'")
    value = Fraction(int(m.group(1)), int(m.group(2)))
    if not 0 < value <= 1:
        raise ValueError(f"{text!r} must be more than 0 and at most 1")
    return value
