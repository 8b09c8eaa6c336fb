"""The append path in one server-side call (PostgreSQL): ``ledger_append``.

The posting service used to hold the chain head's row lock across eleven client round trips (the
period guard, the inserts, the balance upserts, reloading the entry). ``ledger_append`` does the
whole critical section in the database, so the lock is held for no client round trip at all:

1. check what the client took from its cache, before the lock: every account id still has the
   name the client hashed, holds the commodity, takes a posting on that date; the books start on
   or before the first date;
2. lock the chain head (``FOR UPDATE``);
3. check, under the lock, that no period from the first date's on is closed and that the period
   rows exist up to the last date's;
4. number and hash the entries: ``hash = sha256(prev ‖ head ‖ id ‖ tail)``, where the client sent
   the canonical entry split around its id (``entries.canonical_parts``), so the hash is exactly
   ``entries.chain_hash(prev, canonical_entry(...))`` and ``ledger verify`` is unchanged;
5. insert the postings, the posting detail, then the entries that seal them (the guard triggers of
   0001 and 0006 still run);
6. add to every maintained table — account balances (0005), engagement month totals (0007) — in
   one set-based upsert each (MAINTAINED TABLES: add the next one there);
7. move the chain head.

A failed check in 1 or 3 writes nothing and raises nothing: the function answers a ``status``
(``stale``, ``closed``, ``periods``) and the client re-reads the facts it cached and answers the
error itself (or retries, when only its cache was stale), so a refusal never aborts the caller's
transaction. With ``refuse`` it raises instead: the caller sent its ``COMMIT`` in the same round
trip (``append.post_and_commit``), and a refusal must turn that commit into a rollback. SQLite keeps its single-writer path in Python (the function is PostgreSQL only).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

SIGNATURE = ("date[], text[], text[], text[], integer[], bigint[], text[], text[], text[], timestamptz, "
             "integer[], integer[], text[], bigint[], text[], integer[], "
             "integer[], integer[], integer[], text[], text[], integer[], bigint[], "
             "integer[], text[], text, text, boolean")

APPEND = """
CREATE OR REPLACE FUNCTION ledger_append(
    e_date date[], e_memo text[], e_source_type text[], e_source_ref text[], e_policy integer[],
    e_reverses bigint[], e_key text[], e_head text[], e_tail text[], e_created timestamptz,
    p_entry integer[], p_account integer[], p_commodity text[], p_amount bigint[], p_kind text[],
    p_engagement integer[],
    d_entry integer[], d_line integer[], d_account integer[], d_commodity text[], d_kind text[],
    d_engagement integer[], d_amount bigint[],
    a_id integer[], a_name text[], first_period text, last_period text, refuse boolean,
    OUT o_status text, OUT o_first_id bigint, OUT o_first_prev text, OUT o_hashes text[])
LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := cardinality(e_date);
  v_seq bigint;
  v_prev text;
  prevs text[] := '{}';
BEGIN
  o_hashes := '{}';
  -- 1. What the client cached, checked before the lock (as the client checked it before).
  IF EXISTS (SELECT 1 FROM unnest(a_id, a_name) AS u(id, name) LEFT JOIN account a ON a.id = u.id
             WHERE a.id IS NULL OR a.name <> u.name)
     OR EXISTS (SELECT 1 FROM unnest(p_entry, p_account, p_commodity) AS p(e, acc, c)
                JOIN account a ON a.id = p.acc
                WHERE NOT (p.c = ANY (string_to_array(a.commodities, ',')))
                   OR a.closed_after < e_date[p.e])
     OR NOT EXISTS (SELECT 1 FROM books b WHERE b.id = 1
                    AND b.starts_on <= (SELECT min(d) FROM unnest(e_date) AS d)) THEN
    o_status := 'stale';
    IF refuse THEN
      RAISE EXCEPTION 'ledger_append refused: stale';
    END IF;
    RETURN;
  END IF;
  -- 2. The chain's lock: held from here to the commit, with no client round trip in between.
  SELECT h.seq, h.hash INTO v_seq, v_prev FROM chain_head h WHERE h.id = 1 FOR UPDATE;
  -- 3. Periods, read under the lock so a close that commits first is always seen.
  IF EXISTS (SELECT 1 FROM period pr WHERE pr.status = 'closed' AND pr.id >= first_period) THEN
    o_status := 'closed';
    IF refuse THEN
      RAISE EXCEPTION 'ledger_append refused: closed';
    END IF;
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM period pr WHERE pr.id = last_period) THEN
    o_status := 'periods';
    IF refuse THEN
      RAISE EXCEPTION 'ledger_append refused: periods';
    END IF;
    RETURN;
  END IF;
  o_first_id := v_seq + 1;
  o_first_prev := v_prev;
  -- 4. Number and hash, in chain order.
  FOR i IN 1 .. n LOOP
    prevs[i] := v_prev;
    v_prev := encode(sha256(convert_to(v_prev || e_head[i] || (v_seq + i)::text || e_tail[i], 'UTF8')), 'hex');
    o_hashes[i] := v_prev;
  END LOOP;
  -- 5. The postings and their detail, then the entries that seal them.
  INSERT INTO posting (entry_id, account_id, commodity, amount, kind, engagement_id)
    SELECT v_seq + p.e, p.acc, p.c, p.amt, p.k, p.eng
    FROM unnest(p_entry, p_account, p_commodity, p_amount, p_kind, p_engagement)
         WITH ORDINALITY AS p(e, acc, c, amt, k, eng, ord)
    ORDER BY p.ord;
  IF cardinality(d_entry) > 0 THEN
    INSERT INTO posting_detail (entry_id, line_no, account_id, date, commodity, kind, engagement_id, amount)
      SELECT v_seq + d.e, d.ln, d.acc, e_date[d.e], d.c, d.k, d.eng, d.amt
      FROM unnest(d_entry, d_line, d_account, d_commodity, d_kind, d_engagement, d_amount)
           AS d(e, ln, acc, c, k, eng, amt);
  END IF;
  INSERT INTO entry (id, date, memo, source_type, source_ref, policy_version, reverses_id,
                     idempotency_key, prev_hash, hash, created_at)
    SELECT v_seq + x.ord, x.dt, x.memo, x.st, x.sr, x.pv, x.rv, x.k, x.prev, x.h, e_created
    FROM unnest(e_date, e_memo, e_source_type, e_source_ref, e_policy, e_reverses, e_key, prevs, o_hashes)
         WITH ORDINALITY AS x(dt, memo, st, sr, pv, rv, k, prev, h, ord)
    ORDER BY x.ord;
  -- 6. MAINTAINED TABLES: every table kept in step with the postings is added to here, one
  --    set-based upsert each, in key order (the Python path for SQLite: service._maintain).
  INSERT INTO account_balance (account_id, commodity, balance)
    SELECT p.acc, p.c, sum(p.amt)::bigint
    FROM unnest(p_account, p_commodity, p_amount) AS p(acc, c, amt)
    GROUP BY p.acc, p.c ORDER BY p.acc, p.c
  ON CONFLICT (account_id, commodity) DO UPDATE SET balance = account_balance.balance + EXCLUDED.balance;
  INSERT INTO engagement_month_total (month, account_id, engagement_id, commodity, balance)
    SELECT to_char(e_date[p.e], 'YYYY-MM'), p.acc, p.eng, p.c, sum(p.amt)::bigint
    FROM unnest(p_entry, p_account, p_commodity, p_amount, p_engagement) AS p(e, acc, c, amt, eng)
    WHERE p.eng IS NOT NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (month, account_id, engagement_id, commodity)
    DO UPDATE SET balance = engagement_month_total.balance + EXCLUDED.balance;
  -- 7. The chain head.
  UPDATE chain_head SET seq = v_seq + n, hash = v_prev WHERE id = 1;
  o_status := 'ok';
END
$fn$
"""


# ``ledger_append``'s parameters but ``refuse``, in order: (name, type, array?): a queued request's
# columns (``models.APPEND_PARAMS``, ``append.call_args``).
PARAMS = [("e_date", "date", True), ("e_memo", "text", True), ("e_source_type", "text", True),
          ("e_source_ref", "text", True), ("e_policy", "integer", True), ("e_reverses", "bigint", True),
          ("e_key", "text", True), ("e_head", "text", True), ("e_tail", "text", True),
          ("e_created", "timestamptz", False), ("p_entry", "integer", True), ("p_account", "integer", True),
          ("p_commodity", "text", True), ("p_amount", "bigint", True), ("p_kind", "text", True),
          ("p_engagement", "integer", True), ("d_entry", "integer", True), ("d_line", "integer", True),
          ("d_account", "integer", True), ("d_commodity", "text", True), ("d_kind", "text", True),
          ("d_engagement", "integer", True), ("d_amount", "bigint", True), ("a_id", "integer", True),
          ("a_name", "text", True), ("first_period", "text", False), ("last_period", "text", False)]


# Group commit: a writer queues its request (committed on its own, cheap: the tables are UNLOGGED)
# and then calls ledger_drain in a transaction it commits in the same round trip. Whoever gets the
# chain's lock first appends every request queued — each in its own subtransaction, so each gets
# its own answer, a key used twice failing that request alone — and commits them all at once: one
# lock, one WAL flush for the batch. A writer that finds its answer already there (a batch drained
# by another writer, committed) takes it and commits nothing durable.
DRAIN = f"""
CREATE OR REPLACE FUNCTION ledger_drain(mine bigint, OUT o_status text, OUT o_entry_id bigint, OUT o_detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
  q record;
  r record;
  done bigint[] := '{{}}';
BEGIN
  LOOP
    -- Answered by a batch already committed: take the answer, write nothing durable.
    SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
    EXIT WHEN FOUND;
    -- Drainers take turns on an advisory lock, not the chain head's row (the drain takes that in
    -- ledger_append, as every writer does). A writer that cannot drain waits for the drain under
    -- way to end (a shared lock, taken and let go), together with every other waiter, then looks
    -- for its answer again: nobody queues behind the others only to read an answer.
    IF pg_try_advisory_xact_lock(16016) THEN
      FOR q IN SELECT * FROM append_request rq ORDER BY rq.ticket LOOP
        BEGIN
          SELECT * INTO r FROM ledger_append({", ".join(f"q.{n}" for n, _k, _a in PARAMS)}, false);
          INSERT INTO append_result (ticket, status, entry_id, detail, done_at)
            VALUES (q.ticket, r.o_status, r.o_first_id, r.o_hashes[1], now());
        EXCEPTION WHEN OTHERS THEN
          INSERT INTO append_result (ticket, status, entry_id, detail, done_at)
            VALUES (q.ticket, 'error', NULL, SQLSTATE || ': ' || SQLERRM, now());
        END;
        done := done || q.ticket;
      END LOOP;
      DELETE FROM append_request rq WHERE rq.ticket = ANY (done);
      SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail FROM append_result x WHERE x.ticket = mine;
      EXIT;
    END IF;
    PERFORM pg_advisory_lock_shared(16016);
    PERFORM pg_advisory_unlock_shared(16016);
  END LOOP;
  -- The answer is read once; an answer nobody read (its writer died) goes after an hour.
  DELETE FROM append_result x WHERE x.ticket = mine OR x.done_at < now() - interval '1 hour';
END
$fn$
"""


def argument_columns() -> list[sa.Column]:
    """A queued request's columns: ``ledger_append``'s arguments, typed (text on SQLite)."""
    types = {"date": sa.Date, "text": sa.Text, "integer": sa.Integer, "bigint": sa.BigInteger,
             "timestamptz": lambda: sa.DateTime(timezone=True)}
    return [sa.Column(name, sa.ARRAY(types[kind]()).with_variant(sa.Text(), "sqlite") if array else types[kind](),
                      nullable=True) for name, kind, array in PARAMS]


def queue_tables(postgres: bool) -> None:
    """The queue's two tables (UNLOGGED on PostgreSQL); migration 0028's downgrade makes them again."""
    unlogged = {"prefixes": ["UNLOGGED"]} if postgres else {}
    op.create_table('append_request',
    sa.Column('ticket', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    *argument_columns(),
    sa.PrimaryKeyConstraint('ticket', name=op.f('pk_append_request')),
    **unlogged,
    )
    op.create_table('append_result',
    sa.Column('ticket', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ticket', name=op.f('pk_append_result')),
    **unlogged,
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    queue_tables(postgres)
    if postgres:
        op.execute(APPEND)
        op.execute(DRAIN)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_drain(bigint)")
        op.execute(f"DROP FUNCTION IF EXISTS ledger_append({SIGNATURE})")
    op.drop_table('append_result')
    op.drop_table('append_request')
