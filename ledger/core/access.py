"""Who may read what (CONTRACT §7, "Who may read what"), as pure rules over plain values.

Every read that shows a partner's money asks these, whatever the surface (API, web, CSV, PDF, an
entry's page), so the surfaces cannot disagree:

- the treasurer (and an admin, who may do whatever a treasurer may) reads everything;
- a partner reads their own capital, and every partner's when the charter has open books;
- with closed books, another partner's capital lines are shown only as one aggregated
  "other partners" figure (``sees_capital_of`` says whose lines are shown as they are).

A retired partner reads their own history like any partner, and votes on nothing (the governance
service's rule, not a read rule).
"""

from __future__ import annotations

from dataclasses import dataclass

TREASURER_ROLES = frozenset({"treasurer", "admin"})


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whoever asks: their role and, for a partner user, their partner code."""

    role: str
    partner: str | None = None

    @property
    def is_treasurer(self) -> bool:
        return self.role in TREASURER_ROLES


def sees_capital_of(viewer: Viewer, partner_code: str, open_books: bool) -> bool:
    """Whether ``viewer`` may see ``partner_code``'s capital lines as they are."""
    if viewer.is_treasurer:
        return True
    if viewer.role != "partner" or viewer.partner is None:
        return False
    return viewer.partner == partner_code or open_books


def may_read_statement(viewer: Viewer, partner_code: str, open_books: bool) -> bool:
    """A partner's statement: the partner, the treasurer, and every partner with open books."""
    return sees_capital_of(viewer, partner_code, open_books)


def may_read_own(viewer: Viewer, partner_code: str) -> bool:
    """What is a partner's own whatever the books (their vesting, their buyout): the partner and
    the treasurer."""
    return sees_capital_of(viewer, partner_code, open_books=False)


def may_open_entry(viewer: Viewer, capital_of: set[str], open_books: bool) -> bool:
    """An entry's page: the treasurer's; a partner's when the entry moves capital they may see
    (``capital_of``: the partners whose capital the entry's postings or detail lines name)."""
    if viewer.is_treasurer:
        return True
    return any(sees_capital_of(viewer, code, open_books) for code in capital_of)
