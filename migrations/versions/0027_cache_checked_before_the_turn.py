"""Group commit: a writer's cached facts are checked before it waits for the turn, not inside it.

``ledger_append``'s step 1 re-reads what the client took from its cache (every account id still
has the name the client hashed, holds the commodity and takes a posting on that date; the books
start on or before the first date). It ran inside the call, so a writer that held the group
appender's turn ran it too, while every other writer waited for that turn: with two writers,
which never form a batch, the turn is the whole cycle, and the check was on it.

Now the check is a function of its own, ``ledger_append_stale``, and ``ledger_post`` runs it
first, before it asks for the turn: a writer whose cache is stale is answered ``stale`` at once
(``group.post_grouped`` then posts from fresh reads, as before) and never waits. Whatever it then
appends — its own entry with the turn, or its request through the queue — goes to
``ledger_append`` with ``checked`` set, which skips step 1. ``ledger_append`` called without
``checked`` (the Python path, ``append.post_and_commit``) checks as before.

What the check proves is unchanged: it always ran before the chain's lock, so a change committed
between the check and the lock was never seen by it (an account closed by another process, for
instance, is re-checked by nobody: the same window as before, now also spanning the wait for the
turn). Period closes are still read under the lock (step 3).

Measured 2026-12-03 with ``bench/procedure_bench.py --against 0026`` (``pgbench`` calling
``ledger_post`` with one entry, no Python in the loop, the two swapped in turn): two clients a
median 1.01 × and 1.05 × over three and five rounds, eight clients 0.86 × and 0.99 × — a few per
cent at best with two writers (a prototype that dropped the check altogether ran 1.08–1.21 ×),
nothing with eight (each queued writer checks its own request where the drain checked the batch
at once). Kept for the shorter turn and for the stale writer that no longer waits.
``docs/performance.md``, "Tenth pass".

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from alembic import context, op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

#: Step 1 of ``ledger_append`` (0016's text, read by ``_step_1``), skipped for a caller that ran the check itself.
_STEP_1_UNLESS_CHECKED = """  IF NOT checked THEN
    IF ledger_append_stale(e_date, p_entry, p_account, p_commodity, a_id, a_name) THEN
      o_status := 'stale';
      IF refuse THEN
        RAISE EXCEPTION 'ledger_append refused: stale';
      END IF;
      RETURN;
    END IF;
  END IF;
"""

_STALE_ARGS = "e_date date[], p_entry integer[], p_account integer[], p_commodity text[], a_id integer[], a_name text[]"

#: ``ledger_post``'s first step: the writer's own check, before it asks for the turn.
_TURN_ASKED = "  IF NOT pg_try_advisory_lock(16016) THEN\n"
_CHECKED_FIRST = """  -- What this writer cached, checked before it waits for anything (0027): a stale cache is
  -- answered at once, and nothing appended below checks it again under the turn.
  IF ledger_append_stale(e_date, p_entry, p_account, p_commodity, a_id, a_name) THEN
    o_status := 'stale';
    RETURN;
  END IF;
"""


def _revision(revision_id: str):
    """An earlier revision's module, as Alembic loaded it."""
    return context.script.get_revision(revision_id).module


def _step_1() -> str:
    """Step 1 of 0016's ``ledger_append`` as its text reads: what the client cached, checked
    before the lock."""
    append = _revision("0016").APPEND
    return append[append.index("  IF EXISTS (SELECT 1 FROM unnest(a_id, a_name)"):append.index("  -- 2. The chain's lock")]


def stale_function() -> str:
    """Step 1's condition as a function of its own. plpgsql, which keeps its statements' plans for
    the session: a SQL function with subqueries is not inlined, and its body was planned again at
    every call (measured: it ate the whole gain)."""
    step_1 = _step_1()
    condition = step_1[len("  IF "):step_1.index(" THEN\n")]
    return (f"CREATE OR REPLACE FUNCTION ledger_append_stale({_STALE_ARGS}) RETURNS boolean\n"
            f"LANGUAGE plpgsql STABLE AS $fn$\nBEGIN\n  RETURN {condition};\nEND\n$fn$")


def _once(text: str, old: str, new: str, times: int = 1) -> str:
    """``text`` with ``old`` (found exactly ``times`` times) replaced by ``new``."""
    if text.count(old) != times:
        raise RuntimeError(f"the earlier revision's function is not the one this revision changes: {old[:40]!r}")
    return text.replace(old, new)


def append_function() -> str:
    """0018's ``ledger_append`` (0016's with the account-month totals) taking ``checked``."""
    before = _revision("0018")
    text = before._append_function().replace(before.STEP_7, before.MONTH_TOTALS + before.STEP_7)
    text = _once(text, "refuse boolean,\n", "refuse boolean, checked boolean DEFAULT false,\n")
    return _once(text, _step_1(), _STEP_1_UNLESS_CHECKED)


def drain_function(params) -> str:
    """0021's ``ledger_drain_batch``: every request was checked by its writer before it queued."""
    return _once(_revision("0021").batch_function(params), ", false);", ", false, true);", times=2)


def post_procedure(params) -> str:
    """0026's ``ledger_post``, checking first and appending without the check under the turn."""
    cols = ", ".join(n for n, _k, _a in params)
    text = _once(_revision("0026").post_procedure(params), _TURN_ASKED, _CHECKED_FIRST + _TURN_ASKED)
    return _once(text, f"ledger_append({cols}, false);", f"ledger_append({cols}, false, true);")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    params = _revision("0016").PARAMS
    op.execute(stale_function())
    op.execute(f"DROP FUNCTION ledger_append({_revision('0016').SIGNATURE})")
    op.execute(append_function())
    op.execute(drain_function(params))
    op.execute(post_procedure(params))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    params = _revision("0016").PARAMS
    before = _revision("0018")
    op.execute(f"DROP FUNCTION ledger_append({_revision('0016').SIGNATURE}, boolean)")
    op.execute(before._append_function().replace(before.STEP_7, before.MONTH_TOTALS + before.STEP_7))
    op.execute(_revision("0021").batch_function(params))
    op.execute(_revision("0026").post_procedure(params))
    op.execute(f"DROP FUNCTION ledger_append_stale({_STALE_ARGS})")
