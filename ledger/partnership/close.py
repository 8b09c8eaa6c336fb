"""Closing a period: every area's part of it, in one transaction, in order.

1. take the chain's lock, so no posting can slip into the period while it closes, and check the
   period is the oldest open one (409 otherwise);
2. the sharing: gather, allocate, post (``revenue.close.post_allocation``);
3. the vesting events dated in the period, in ``UNITS`` (``equity.service.post_vesting_events``);
4. the succession: installments due, then the retirements effective in the period
   (``succession.service.on_close``), after the allocation they still share in;
5. the balances' snapshot at the period's end (``journal.balances.snapshot_balances``);
6. the period marked closed (``journal.periods.mark_closed``);
7. the partners told: statements ready, units vested, installments paid (``tell.tell_closed``).

Everything commits together or not at all: a close that fails half-way leaves nothing and can
simply be retried. This module orchestrates the areas below it, which know nothing of each other's
part.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import contextmanager

from sqlalchemy.orm import Session

from ledger.core.errors import Conflict
from ledger.equity.service import post_vesting_events
from ledger.journal.balances import snapshot_balances
from ledger.journal.models import Period
from ledger.journal.periods import ensure_periods, mark_closed, oldest_open, parse_period
from ledger.journal.service import lock_chain
from ledger.partnership.tell import tell_closed
from ledger.revenue.close import post_allocation
from ledger.succession.service import on_close

CLOSE_STEPS = ("gather the period's facts", "allocate", "post the allocation", "post vesting",
               "succession", "snapshot balances")


@contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for a bulk job. A close makes a few hundred thousand
    small acyclic objects (rows, shares, detail lines) that reference counting frees on its own;
    left running, the collector re-scans the whole heap over and over as they pile up — a third of
    a 20,000-engagement close. Whatever cycles do form are collected when it resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def close_period(session: Session, pid: str, progress: Callable[[int, int], None] | None = None) -> Period:
    """Close ``pid``, which must be the oldest open period; 409 for any other well-formed id,
    404 for a malformed one. ``progress(done, total)`` is called after each of the ``CLOSE_STEPS``."""
    with cyclic_gc_paused():
        return _close_period(session, pid, progress)


def _close_period(session: Session, pid: str, progress: Callable[[int, int], None] | None) -> Period:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(CLOSE_STEPS))

    pid, start, end = parse_period(session, pid)
    lock_chain(session)
    expected = oldest_open(session)
    if pid != expected:
        state = "already closed" if pid < expected else "not the oldest open period"
        raise Conflict(f"period {pid} cannot be closed: it is {state}; the next to close is {expected}",
                       {"period": [state]})
    ensure_periods(session, pid)
    facts, allocation = post_allocation(session, pid, step)
    vested = post_vesting_events(session, start, end)
    step()
    on_close(session, pid, end, allocation)
    step()
    snapshot_balances(session, pid, end)
    period = mark_closed(session, pid, facts.policy.version, allocation.pool_basis_applied)
    tell_closed(session, pid, start, end, vested)
    step()
    return period
