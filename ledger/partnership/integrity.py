"""The whole-product ``verify``: the journal's own checks (chain, balance, guards) plus the checks
of the areas built on it — today, that the ledger's ``UNITS`` balances agree with the vesting
formula for every closed period. ``ledger verify`` and ``GET /ledger/verify`` both call this."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.equity.service import check_units_agree
from ledger.journal.verify import Report, verify


def full_verify(session: Session) -> Report:
    return verify(session, extra_checks=[check_units_agree])
