"""Group commit: one writer waits for the turn itself instead of queueing.

With 0021, a writer that found the turn taken always queued its request — an ``INSERT`` and a
``COMMIT`` of its own, a wait on the shared turn, a read and a ``DELETE`` of its answer — and the
drainer gathered, appended and answered it. With many writers that pays for itself: one chain lock
and one WAL flush serve the batch. With two, the queue almost never holds more than the one
request, so each entry paid the queue's round for nothing (measured: 0.93 × pgledger's hot shape
with 2 writers against 1.01 × for the pipelined ``post_and_commit``, the server's time an entry
1.34 ms against 0.95 ms).

Now the first writer to find the turn taken takes a second advisory lock, the *waiter's* slot
(``pg_try_advisory_lock(16017)``), and waits for the turn itself: when it has it, it lets the slot
go and does what a writer that found the turn free does — appends its own entry at once, then
whatever was queued meanwhile, in one transaction. Only the writers that find both the turn and
the slot taken queue. With two writers each waits in turn and nobody queues; with eight, one waits
and the rest queue, and the waiter drains them with its own entry, as a batch. Nobody waits on the
slot (it is only ever tried), so the waiter's wait cannot close a cycle.

The rest of 0021's procedure is unchanged.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0022'
down_revision = '0021'
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
    -- The turn is this writer's: append its entry at once (no queue), then whatever is queued,
    -- and commit them together. A refusal or an error is this entry's answer alone.
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
    op.execute(_module("post_procedure_0021", "0021_post_procedure.py").post_procedure(params))
