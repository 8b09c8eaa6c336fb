"""Group commit (PostgreSQL) as one procedure call a writer, with answers read outside the lock
and the queue gathered in one set-based query.

0019's writer sent a simple-protocol message — the request's ``INSERT`` with 27 literal arrays
(parsed and planned every time), ``COMMIT``, then ``ledger_drain`` — and every writer, answered or
not, took the drain lock in turn and held it through its own answer's ``DELETE`` and ``COMMIT``:
after a batch of five, four writers passed the lock hand to hand before the next drain could
start. Measured with 8 writers: batches of 3.4 entries, the drain's plpgsql about a fifth of the
server's time.

Now one call a writer, ``CALL ledger_post(…)`` (a procedure: extended protocol, the arguments as
parameters, the statements inside planned once a connection, ``COMMIT`` inside it):

- **The turn is free** (``pg_try_advisory_lock(16016)``, a *session* lock on the key 0019's
  ``ledger_drain`` took for a transaction): nobody is draining,
  so the writer appends its own entry at once — no queue row, no answer row — then whatever
  others queued meanwhile, commits, and lets the turn go. A lone writer pays what
  ``post_and_commit`` pays; a refusal or an error (a key used twice) is its own answer.
- **The turn is taken**: the writer queues its request and commits that alone (UNLOGGED), then
  waits for the batch under way on a *shared* turn, taken and let go at once: every waiter is
  woken together when the drainer lets go, instead of passing an exclusive lock hand to hand.
  Answered, it reads its answer outside any lock and deletes it. Not yet taken, it tries for the
  turn; a writer that misses it (a woken waiter still holds its shared turn) waits on the shared
  turn once more and then queues for the exclusive one rather than trying again, so nobody spins.
  The writer with the turn drains the whole queue, commits — the batch durable before its
  answers can be read — and lets the turn go. (Draining again, while requests kept coming, before
  letting go was measured and lost: the writers already answered waited for it.)
- ``ledger_drain_batch`` gathers the whole queue in one query (``ledger_array_cat``, an
  ``array_cat`` aggregate, in ticket order; entry numbers shifted by a window sum) instead of 27
  plpgsql assignments a request, appends it as one ``ledger_append`` call or, when that fails,
  each request alone in its own subtransaction (0019's rule, unchanged), and writes the answers.
- ``ledger_drain(mine)``, 0019's entry point, goes: no caller is left (the downgrade puts it back).

A writer killed at any point leaves at most an unanswered request (appended by the next batch or
dropped with the UNLOGGED queue by a crash) and never half an entry; a backend that ends while it
holds the session lock lets it go. An error inside the procedure (a cancel, say) leaves the lock
held by that session: ``group.py`` closes a connection whose call raised, which lets it go.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def _module(name: str, file: str):
    path = Path(__file__).with_name(file)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Of ``ledger_append``'s parameters, those a batch takes other than by concatenating the requests'
#: arrays (as 0019): entry numbers shifted by the entries before; the latest time; the widest range.
SHIFTED = ("p_entry", "d_entry")
SCALARS = {"e_created": "max", "first_period": "min", "last_period": "max"}

def batch_function(params) -> str:
    declare = "\n".join(f"  b_{n} {k}[];" if a else f"  b_{n} {k};" for n, k, a in params)
    gather = ",\n         ".join(
        f"ledger_array_cat(ARRAY(SELECT u.v + x.off FROM unnest(x.{n}) WITH ORDINALITY AS u(v, o) ORDER BY u.o) "
        f"ORDER BY x.ticket)" if n in SHIFTED else
        f"{SCALARS[n]}(x.{n})" if n in SCALARS else
        f"ledger_array_cat(x.{n} ORDER BY x.ticket)" for n, _k, _a in params)
    into = ", ".join(f"b_{n}" for n, _k, _a in params)
    one = ", ".join(f"q.{n}" for n, _k, _a in params)
    return f"""
CREATE OR REPLACE FUNCTION ledger_drain_batch() RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  q record;
  r record;
  done bigint[];
  offs integer[];
  batched boolean := false;
{declare}
BEGIN
  IF NOT EXISTS (SELECT 1 FROM append_request) THEN
    RETURN 0;  -- (the gather's plan costs more to start than this look)
  END IF;
  -- The whole queue, in ticket order, as one call's arguments: one query.
  SELECT array_agg(x.ticket ORDER BY x.ticket), array_agg(x.off ORDER BY x.ticket),
         {gather}
    INTO done, offs, {into}
    FROM (SELECT rq.*, (sum(cardinality(rq.e_date)) OVER (ORDER BY rq.ticket) - cardinality(rq.e_date))::integer AS off
            FROM append_request rq) x;
  IF done IS NULL THEN
    RETURN 0;
  END IF;
  IF cardinality(done) > 1 THEN
    BEGIN
      SELECT * INTO r FROM ledger_append({into}, false);
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
  -- An answer nobody read (its writer died) goes after an hour: a scan of the table, so only
  -- about one batch in a hundred looks.
  IF random() < 0.01 THEN
    DELETE FROM append_result x WHERE x.done_at < now() - interval '1 hour';
  END IF;
  RETURN cardinality(done);
END
$fn$
"""


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
  IF pg_try_advisory_lock(16016) THEN
    -- Nobody drains: append this entry at once (no queue), then whatever is queued, and commit
    -- them together. A refusal or an error is this entry's answer alone.
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
    params = _module("append_path_0016", "0016_append_path.py").PARAMS
    op.execute("CREATE OR REPLACE AGGREGATE ledger_array_cat(anycompatiblearray) "
               "(SFUNC = array_cat, STYPE = anycompatiblearray, INITCOND = '{}')")
    op.execute(batch_function(params))
    op.execute("DROP FUNCTION IF EXISTS ledger_drain(bigint)")  # no caller left: writers CALL ledger_post
    op.execute(post_procedure(params))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    params = _module("append_path_0016", "0016_append_path.py").PARAMS
    op.execute("DROP PROCEDURE IF EXISTS ledger_post(" + ", ".join(f"{k}[]" if a else k for _n, k, a in params)
               + ", text, bigint, text)")
    op.execute(_module("group_commit_turns_0019", "0019_group_commit_turns.py").drain_function(params))
    op.execute("DROP FUNCTION IF EXISTS ledger_drain_batch()")
    op.execute("DROP AGGREGATE IF EXISTS ledger_array_cat(anycompatiblearray)")
