"""What a person may type into the product: one rule for every string field (pure).

Every string a surface takes — an API body, a proposal's payload, the charter, a web form, an
imported line — is either a *code* of a fixed shape (``codes.py``: checked whole with ``fits``) or
*text*, checked by ``text_problem``:

- it is a ``str`` of ``min_length`` to ``max_length`` characters, and not blank when it is required
  (``min_length`` ≥ 1: ``"   "`` is no title);
- no control character: C0 (``\\x00``–``\\x1f``), DEL and C1 (``\\x80``–``\\x9f``). PostgreSQL
  cannot store a NUL at all, and an ESC or a BEL in a name is never meant. Multi-line text (a
  resolution) may carry tab, line feed and carriage return;
- no lone surrogate (``"\\ud800"``): JSON can spell one, but it is not a character, and neither
  engine can encode it — left to the database it would be a 500.

``fits(pattern, text)`` is how a code is checked everywhere: the whole text must match (Python's
``$`` also matches before a final newline, so ``"acme\\n"`` would slip past ``re.match``), and
``\\d``/``\\w`` mean ASCII only (``"١٠"`` is not ten).

The ``*_PATTERN`` strings say the same in the OpenAPI document (ECMA-262 regexes); a lone surrogate
cannot be written there, and is refused all the same.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Characters no text may hold: C0 controls but tab, LF and CR; DEL; C1 controls.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_SINGLE_LINE_BAD = re.compile(f"[\t\n\r{_CONTROLS}]")
_MULTI_LINE_BAD = re.compile(f"[{_CONTROLS}]")
_SURROGATE = re.compile("[\ud800-\udfff]")

#: The rules above as the OpenAPI document's patterns: a single line that is not blank, and the
#: same where blank is allowed; and multi-line text.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
SINGLE_LINE_OR_EMPTY_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def text_problem(value: object, *, max_length: int = 200, min_length: int = 1, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable text, or ``None`` when it is (see the module docstring)."""
    if not isinstance(value, str):
        return "must be text"
    if _SURROGATE.search(value):
        return "contains characters that are not valid Unicode text"
    if (_MULTI_LINE_BAD if multiline else _SINGLE_LINE_BAD).search(value):
        return "must not contain control characters" + ("" if multiline else " or line breaks")
    if len(value) > max_length:
        return f"at most {max_length} characters"
    if len(value) < min_length:
        return f"at least {min_length} character{'s' if min_length != 1 else ''}"
    if min_length >= 1 and not value.strip():
        return "must not be blank"
    return None


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


def fits(pattern: str, text: object) -> bool:
    """Whether the whole of ``text`` has the shape ``pattern`` says (ASCII classes, no trailing newline)."""
    return isinstance(text, str) and _compiled(pattern).fullmatch(text) is not None
