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


def post_procedure(params) -> str:
    args = ", ".join(f"{n} {k}[]" if a else f"{n} {k}" for n, k, a in params)
    cols = ", ".join(n for n, _k, _a in params)
    return f"""
CREATE OR REPLACE PROCEDURE ledger_post({args},
    INOUT o_status text DEFAULT NULL, INOUT o_entry_id bigint DEFAULT NULL, INOUT o_detail text DEFAULT NULL)
LANGUAGE plpgsql AS $fn$
DECLARE
  mine bigint;
  turn boolean;
  tries integer := 0;
  r record;
BEGIN
  IF NOT pg_try_advisory_lock(16016) THEN
    IF pg_try_advisory_lock(16017) THEN
      -- The turn is taken and nobody waits for it: wait for it here, as the one waiter, and
      -- then append at once as a writer that found it free.
      PERFORM pg_advisory_lock(16016);
      PERFORM pg_advisory_unlock(16017);
    ELSE
      turn := false;
    END IF;
  END IF;
  IF turn IS NULL THEN
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
    -- Nobody queued: append this entry at once (no queue), then whatever queued meanwhile, and
    -- commit them together. A refusal or an error is this entry's answer alone.
    BEGIN
      SELECT * INTO r FROM ledger_append({cols}, false);
      o_status := r.o_status;
      o_entry_id := r.o_first_id;
      o_detail := r.o_hashes[1];
    EXCEPTION WHEN OTHERS THEN
      o_status := 'error';
      o_detail := SQLSTATE || ': ' || SQLERRM;
    END;
    PERFORM ledger_drain_batch();
    COMMIT;
    PERFORM pg_advisory_unlock(16016);
    RETURN;
  END IF;
  INSERT INTO append_request ({cols}) VALUES ({cols}) RETURNING ticket INTO mine;
  COMMIT;  -- queued: visible to whoever drains next (UNLOGGED: no WAL flush to wait for)
  LOOP
    -- Wait for the batch under way, if any, to commit: a shared turn, taken and let go at once,
    -- granted to every waiter together when the drainer lets go.
    PERFORM pg_advisory_lock_shared(16016);
    PERFORM pg_advisory_unlock_shared(16016);
    SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
    EXIT WHEN FOUND;
    -- Not answered: drain. First try for the turn; a writer that misses it (another took it, or a
    -- waiter woken with it has not let go yet) waits for that batch once more, then queues for
    -- the turn itself rather than trying again (no spinning).
    tries := tries + 1;
    IF tries = 1 THEN
      turn := pg_try_advisory_lock(16016);
    ELSE
      PERFORM pg_advisory_lock(16016);
      turn := true;
    END IF;
    IF turn THEN
      SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
      IF NOT FOUND THEN
        PERFORM ledger_drain_batch();
        COMMIT;  -- the batch durable before its answers can be read
        SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
      END IF;
      PERFORM pg_advisory_unlock(16016);
      EXIT;
    END IF;
  END LOOP;
  DELETE FROM append_result x WHERE x.ticket = mine;  -- the answer is read once
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(post_procedure(_module("append_path_0016", "0016_append_path.py").PARAMS))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    params = _module("append_path_0016", "0016_append_path.py").PARAMS
    op.execute(_module("post_waiter_0022", "0022_post_waiter.py").post_procedure(params))
