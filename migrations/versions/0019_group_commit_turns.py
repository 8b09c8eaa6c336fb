"""Group commit (PostgreSQL): drainers take turns on a blocking lock instead of spinning, and a
drain appends the whole queue in one ``ledger_append`` call.

0016's ``ledger_drain`` let a writer that could not take the drain lock at once wait on a shared
lock, let go, and try again. With several such writers each one's shared lock made the others'
attempt fail, so they looped — a query and two lock calls a turn, on two cores shared with the
writers' own processes — until one of them got through: batches of under three entries and a drain
cycle of about 30 ms with 8 writers. Now a writer whose answer is not there yet waits for the lock
in the queue the database keeps (``pg_advisory_xact_lock``: no polling), and once it holds it
either finds its answer (drained by the writer before it) or drains everything queued, its own
request included, and commits it as one batch.

The drain then appends the queue as one call first — the requests' arrays concatenated in ticket
order (entry numbers shifted by the entries before, the widest period range, the latest time as
every entry's ``created_at``): one chain lock, one insert per table and one upsert per maintained
table for the batch, instead of a call and a subtransaction a request. When that call fails (a key
used twice, say) it is undone and each request goes in alone, in its own subtransaction, as
before: its own entry or its own error. The answers, the one total order and one transaction and
one WAL flush a batch are unchanged.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def _append_path():
    """0016's module (its parameter list and its first ``ledger_drain``, for the downgrade)."""
    path = Path(__file__).with_name("0016_append_path.py")
    spec = importlib.util.spec_from_file_location("append_path_0016", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Of ``ledger_append``'s parameters, those a batch takes other than by concatenating the requests'
#: arrays: the entry numbers within the call (shifted by the entries before), the time (the
#: latest) and the period range (the widest).
SHIFTED = ("p_entry", "d_entry")
SCALARS = {"e_created": "greatest", "first_period": "least", "last_period": "greatest"}


def drain_function(params) -> str:
    declare = "\n".join(f"  b_{n} {k}[] := '{{}}';" if a else f"  b_{n} {k};" for n, k, a in params)
    gather = "\n".join(
        f"        b_{n} := b_{n} || (SELECT coalesce(array_agg(u.x + off ORDER BY u.o), '{{}}') "
        f"FROM unnest(q.{n}) WITH ORDINALITY AS u(x, o));" if n in SHIFTED else
        f"        b_{n} := {SCALARS[n]}(b_{n}, q.{n});" if n in SCALARS else
        f"        b_{n} := b_{n} || q.{n};" for n, _k, _a in params)
    one = ", ".join(f"q.{n}" for n, _k, _a in params)
    batch = ", ".join(f"b_{n}" for n, _k, _a in params)
    return f"""
CREATE OR REPLACE FUNCTION ledger_drain(mine bigint, OUT o_status text, OUT o_entry_id bigint, OUT o_detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
  q record;
  r record;
  done bigint[] := '{{}}';
  offs integer[] := '{{}}';
  off integer := 0;
  batched boolean := false;
{declare}
BEGIN
  -- Answered by a batch already committed (one that started after this request was queued).
  SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
  IF NOT FOUND THEN
    -- Wait for the turn in the lock's own queue (held to the end of this transaction, its commit
    -- included); then the batch before may have answered, else drain everything queued.
    PERFORM pg_advisory_xact_lock(16016);
    SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
    IF NOT FOUND THEN
      -- The whole queue as one call first: one lock, one insert per table, one upsert per
      -- maintained table for the batch, in ticket order.
      FOR q IN SELECT * FROM append_request rq ORDER BY rq.ticket LOOP
        done := done || q.ticket;
        offs := offs || off;
{gather}
        off := off + cardinality(q.e_date);
      END LOOP;
      IF cardinality(done) > 1 THEN
        BEGIN
          SELECT * INTO r FROM ledger_append({batch}, false);
          IF r.o_status = 'ok' THEN
            INSERT INTO append_result (ticket, status, entry_id, detail, done_at)
              SELECT u.t, 'ok', r.o_first_id + u.o, r.o_hashes[u.o + 1], now() FROM unnest(done, offs) AS u(t, o);
            batched := true;
          END IF;
        EXCEPTION WHEN OTHERS THEN
          batched := false;  -- one request's error (a key used twice…) undid the batch's call
        END;
      END IF;
      -- Else each request in its own subtransaction: its own entry, or its own error.
      IF NOT batched THEN
        FOR q IN SELECT * FROM append_request rq WHERE rq.ticket = ANY (done) ORDER BY rq.ticket LOOP
          BEGIN
            SELECT * INTO r FROM ledger_append({one}, false);
            INSERT INTO append_result (ticket, status, entry_id, detail, done_at)
              VALUES (q.ticket, r.o_status, r.o_first_id, r.o_hashes[1], now());
          EXCEPTION WHEN OTHERS THEN
            INSERT INTO append_result (ticket, status, entry_id, detail, done_at)
              VALUES (q.ticket, 'error', NULL, SQLSTATE || ': ' || SQLERRM, now());
          END;
        END LOOP;
      END IF;
      DELETE FROM append_request rq WHERE rq.ticket = ANY (done);
      SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
      -- An answer nobody read (its writer died) goes after an hour: a scan of the table, so only
      -- about one drain in a hundred looks.
      IF random() < 0.01 THEN
        DELETE FROM append_result x WHERE x.done_at < now() - interval '1 hour';
      END IF;
    END IF;
  END IF;
  DELETE FROM append_result x WHERE x.ticket = mine;  -- the answer is read once
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(drain_function(_append_path().PARAMS))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_append_path().DRAIN)
