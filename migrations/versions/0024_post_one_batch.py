"""Group commit: the writer with the turn appends its own entry and the queue in one call.

With 0022, a writer that took the turn (found free, or waited for as the one waiter) called
``ledger_append`` for its own entry and then ``ledger_drain_batch`` for whatever was queued: two
calls a turn whenever anyone had queued. A call's cost is mostly fixed — its dozen statements'
start-up, the triggers, the index descents — and hardly grows with its entries: measured with 8
writers (pg_stat_statements, 2026-12-03), the turn holder's own one-entry call took 1.33 ms and
the queue's batch of 3.3 entries 1.41 ms, so the turn (5.2 ms) paid the fixed cost twice.

Now a writer with the turn that finds requests queued puts its own request in the queue, in its
own transaction (UNLOGGED, no WAL), and drains the queue — its request with them — as one
``ledger_append`` call; it reads and deletes its own answer before the ``COMMIT``, so the batch,
the answers and its own answer's removal are one transaction. A writer with the turn that finds
the queue empty appends at once as before (a lone writer or two writers taking turns pay nothing
more than one ``EXISTS``), and still drains what queued meanwhile. An error or a refusal is still
each request's own: the batch falls back to one subtransaction a request (0021's rule), the turn
holder's included.

The rest of 0022's procedure is unchanged.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def _module(name: str, file: str):
    path = Path(__file__).with_name(file)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: 0022's procedure at the point where the writer has the turn: 0024 inserts its block before it.
_TURN_TAKEN = """  IF turn IS NULL THEN
    -- The turn is this writer's: append its entry at once (no queue), then whatever is queued,
"""

#: What a writer with the turn does first: with requests queued, its entry joins them (the rest
#: of the branch, 0022's, appends at once when the queue is empty).
_JOIN_THE_QUEUE = """  IF turn IS NULL THEN
    IF EXISTS (SELECT 1 FROM append_request) THEN
      -- Others queued: this entry joins them, and one ledger_append call appends them all (each
      -- request alone, in its own subtransaction, when that call fails). Its own answer is read
      -- and removed in the batch's transaction.
      INSERT INTO append_request ({cols}) VALUES ({cols}) RETURNING ticket INTO mine;
      PERFORM ledger_drain_batch();
      DELETE FROM append_result x WHERE x.ticket = mine RETURNING x.status, x.entry_id, x.detail
        INTO o_status, o_entry_id, o_detail;
      COMMIT;
      PERFORM pg_advisory_unlock(16016);
      RETURN;
    END IF;
  END IF;
"""


def post_procedure(params) -> str:
    """0022's ``ledger_post`` (read from that revision's file) with the block above before the
    branch of a writer that has the turn."""
    procedure = _module("post_waiter_0022", "0022_post_waiter.py").post_procedure(params)
    if procedure.count(_TURN_TAKEN) != 1:
        raise RuntimeError("0022's procedure is not the one this revision changes")
    cols = ", ".join(n for n, _k, _a in params)
    return procedure.replace(_TURN_TAKEN, _JOIN_THE_QUEUE.replace("{cols}", cols) + _TURN_TAKEN)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(post_procedure(_module("append_path_0016", "0016_append_path.py").PARAMS))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    params = _module("append_path_0016", "0016_append_path.py").PARAMS
    op.execute(_module("post_waiter_0022", "0022_post_waiter.py").post_procedure(params))
