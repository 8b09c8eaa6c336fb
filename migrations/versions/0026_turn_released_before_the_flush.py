"""Group commit: a lone writer lets go of the chain before its commit's WAL flush, and is answered
only after it (early lock release).

With 0024, a writer with the turn and nothing queued appended its entry and committed, and the
``COMMIT`` waited for the WAL to reach the disk (``fdatasync``, about 0.18 ms here) while the
writer still held the chain's row lock and the turn: the next writer waited for the disk too.
Two writers never form a batch (one appends while the other waits for the turn), so their rate
was one over append + flush + hand-over.

Now that writer commits its entry with ``synchronous_commit`` off for that transaction alone (the
commit record is written, not waited for: the row lock and then the turn are let go at once), and
then commits a second transaction with ``synchronous_commit`` on that writes one WAL record (an
empty logical message, ``pg_logical_emit_message``: PostgreSQL flushes at commit only for a
transaction that wrote WAL, so an id alone would not do) — its commit record comes after the
entry's in the WAL, so waiting for its flush waits for the entry's. The writer is answered after
that (acknowledged still means on disk) while the next writer appends. A writer that builds on
an entry not yet flushed commits after it in the WAL, so its own acknowledgement implies the
earlier entry's: no acknowledged entry is lost, and none depends on one that is. What changes: for about a
flush's time another session may read an entry that a crash of the server would then take back,
with its writer never answered (the kill -9 tests kill clients, which the server outlives: the
procedure finishes the flush on its own).

A writer with the turn that drained requests others queued keeps the synchronous commit before
letting go: their answers are read as soon as the turn is free. The rest of 0024's procedure is
unchanged.

Measured 2026-12-03 (one database, the two procedures swapped in turn, 6 s a run, four rounds
each): 2 writers 697 entries/s median before, 846 after (1.21 ×, ahead in every round).
``docs/performance.md``, "Ninth pass".

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03
"""

from alembic import context, op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

#: 0024's end of the branch of a writer that has the turn (0022's text, unchanged by 0024).
_SYNCHRONOUS = """    PERFORM ledger_drain_batch();
    COMMIT;
    PERFORM pg_advisory_unlock(16016);
    RETURN;
  END IF;
"""

#: The same end, the turn let go before the flush when nothing was drained.
_EARLY_RELEASE = """    IF ledger_drain_batch() > 0 THEN
      -- Others' requests went in too: their answers are read once the turn is free, so the
      -- batch is on disk first.
      COMMIT;
      PERFORM pg_advisory_unlock(16016);
      RETURN;
    END IF;
    -- This entry alone: commit without waiting for the flush, let go of the turn, then wait for
    -- the flush of a later commit (which covers this one) before answering.
    PERFORM set_config('synchronous_commit', 'off', true);
    COMMIT;
    PERFORM pg_advisory_unlock(16016);
    PERFORM pg_logical_emit_message(true, 'ledger_post', '');
    COMMIT;
    RETURN;
  END IF;
"""


def _revision(revision_id: str):
    """An earlier revision's module, as Alembic loaded it (no second copy of a file loader)."""
    return context.script.get_revision(revision_id).module


def post_procedure(params) -> str:
    """0024's ``ledger_post`` with the early release above."""
    procedure = _revision("0024").post_procedure(params)
    if procedure.count(_SYNCHRONOUS) != 1:
        raise RuntimeError("0024's procedure is not the one this revision changes")
    return procedure.replace(_SYNCHRONOUS, _EARLY_RELEASE)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(post_procedure(_revision("0016").PARAMS))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_revision("0024").post_procedure(_revision("0016").PARAMS))
