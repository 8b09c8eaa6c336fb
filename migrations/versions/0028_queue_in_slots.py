"""Group commit: the queue is one slot a session, rewritten in place, so it never needs a vacuum.

Since 0016 a queued request was a row inserted into ``append_request`` and deleted by the drain,
and its answer a row inserted into ``append_result`` and deleted by its writer: four dead rows a
queued entry, in tables that only ``VACUUM`` gives back. Every turn asks whether anything is
queued, and every drain gathers the queue, by a sequential scan of those tables, dead pages and
all. Measured 2026-12-04 (``pgbench``, 8 clients calling ``ledger_post``, 70 s, this machine's
server runs with ``autovacuum = off``): the rate fell from 1,965 to about 1,100 calls/s as
``append_request`` grew to 831 pages of 102,691 dead rows; the same run with both tables vacuumed
every 2 s held 1,800–2,240 calls/s (2,005 against 1,496 on average). With autovacuum on, the
same decay between two of its visits (a minute apart at best).

Now the queue is ``append_slot``: one row a database session (``owner``, its backend's pid), which
holds its writer's request and then its answer. A writer queues by rewriting its own row
(``INSERT … ON CONFLICT (owner) DO UPDATE``: the arguments, a new ``ticket`` from the
``append_ticket`` sequence, ``pending``); the drain answers by rewriting the same row (status, entry
id, hash, ``pending`` off, the arguments cleared); the writer reads its answer and leaves the row
for its next request. No row is inserted or deleted on the way, and no indexed column changes
(the key is the owner), so every version is a HOT update on the row's own page, which
PostgreSQL prunes whenever it reads a page short of room (the table is made with fillfactor 50
to leave that room): the table stays at a page or two however long the writers run, vacuumed or
not. A session has one call in flight at a time, so one row is all it needs.

Kept as they were: the order of a batch (tickets), one ``ledger_append`` call a batch or one
subtransaction a request when it fails, each writer's own answer, the turn and its waits. A
writer killed after queuing leaves its row pending; a batch within the next 10 s appends it (its
answer then waits in the row, unread) — unless a new session given the same pid queues first and
rewrites the row, or no batch comes in time (below): that request is then never appended. Either
way it was never acknowledged. Rows of sessions that have ended and have nothing pending are
deleted by about one batch in a hundred (a look at ``pg_stat_activity``), where 0021 deleted
answers nobody read after an hour. A request queued in the old tables when this migration runs is
dropped with them: run it with the writers stopped (as every migration).

A request waits at most ``EXPIRES`` (10 s) to be appended. It is gathered by a batch only while
fresh; one older is never appended: the writer that still waits for it (a chain blocked for that
long) is answered ``stale`` by its own turn and posts again from fresh reads, and about one batch
in a hundred answers the rest ``stale``. Since 0027 a queued request is not checked again under
the turn (its writer checked it just before), so without a bound the request of a writer that
died could be appended by whichever batch came next — minutes or hours later, on facts checked
then (an account since closed, say); before 0027 the batch checked it again.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import context, op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def _revision(revision_id: str):
    """An earlier revision's module, as Alembic loaded it."""
    return context.script.get_revision(revision_id).module


def _once(text: str, old: str, new: str, times: int = 1) -> str:
    """0027's ``_once``: ``text`` with ``old`` (found exactly ``times`` times) replaced by ``new``."""
    return _revision("0027")._once(text, old, new, times)


def _cleared(params) -> str:
    """The arguments of an answered request, dropped: the answer's row version is small."""
    return ", ".join(f"{n} = NULL" for n, _k, _a in params)


def _answer(status: str, entry_id: str, detail: str, params) -> str:
    return f"pending = false, status = {status}, entry_id = {entry_id}, detail = {detail}, {_cleared(params)}"


def _queue(params) -> str:
    """A writer's request, written into its own slot (inserted the first time)."""
    cols = ", ".join(n for n, _k, _a in params)
    again = ", ".join(f"{n} = EXCLUDED.{n}" for n, _k, _a in params)
    return (f"INSERT INTO append_slot AS s (owner, ticket, pending, queued_at, {cols})\n"
            f"    VALUES (me, nextval('append_ticket'), true, clock_timestamp(), {cols})\n"
            "    ON CONFLICT (owner) DO UPDATE SET ticket = EXCLUDED.ticket, pending = true, "
            f"queued_at = EXCLUDED.queued_at, {again}, "
            "status = NULL, entry_id = NULL, detail = NULL\n"
            "    RETURNING s.ticket INTO mine;")


_MY_ANSWER = "FROM append_slot x WHERE x.owner = me AND x.ticket = mine AND NOT x.pending;"

#: How long a queued request may wait to be appended. A live writer's is appended within
#: milliseconds; one older than this is not appended at all (its writer, if it still waits, is
#: answered ``stale`` and posts again from fresh reads), so that a request whose writer died is
#: never appended late, on facts its writer checked long before (an account since closed).
EXPIRES = "10 seconds"


def _fresh(alias: str) -> str:
    return f"{alias}.pending AND {alias}.queued_at > clock_timestamp() - interval '{EXPIRES}'"


def post_procedure(params) -> str:
    """0027's ``ledger_post`` with its queue in the writer's slot."""
    cols = ", ".join(n for n, _k, _a in params)
    text = _revision("0027").post_procedure(params)
    text = _once(text, "  mine bigint;\n", "  mine bigint;\n  me integer := pg_backend_pid();  -- this session's slot\n")
    text = _once(text, "    IF EXISTS (SELECT 1 FROM append_request) THEN\n",
                 f"    IF EXISTS (SELECT 1 FROM append_slot s WHERE {_fresh('s')}) THEN\n")
    text = _once(text, f"INSERT INTO append_request ({cols}) VALUES ({cols}) RETURNING ticket INTO mine;",
                 _queue(params), times=2)
    text = _once(text, "      DELETE FROM append_result x WHERE x.ticket = mine RETURNING x.status, x.entry_id, x.detail\n"
                       "        INTO o_status, o_entry_id, o_detail;\n",
                 "      SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail\n"
                 f"        {_MY_ANSWER}\n")
    text = _once(text, "  DELETE FROM append_result x WHERE x.ticket = mine;  -- the answer is read once\n",
                 "  -- (the answer stays in the slot until this session's next request rewrites it)\n")
    text = _once(text, "FROM append_result x WHERE x.ticket = mine;", _MY_ANSWER, times=3)
    return _once(text, f"""        COMMIT;  -- the batch durable before its answers can be read
        SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail {_MY_ANSWER}
      END IF;
""", f"""        COMMIT;  -- the batch durable before its answers can be read
        SELECT x.status, x.entry_id, x.detail INTO o_status, o_entry_id, o_detail {_MY_ANSWER}
        IF NOT FOUND THEN
          -- Expired before any batch took it (EXPIRES): never appended; post again from fresh reads.
          o_status := 'stale';
          UPDATE append_slot x SET pending = false, status = 'stale'
            WHERE x.owner = me AND x.ticket = mine;
          COMMIT;
        END IF;
      END IF;
""")


def drain_function(params) -> str:
    """0027's ``ledger_drain_batch`` reading the pending slots and answering in them."""
    text = _revision("0027").drain_function(params)
    batch_ok = _answer("'ok'", "r.o_first_id + u.o", "r.o_hashes[u.o + 1]", params)
    alone = _answer("r.o_status", "r.o_first_id", "r.o_hashes[1]", params)
    failed = _answer("'error'", "NULL", "SQLSTATE || ': ' || SQLERRM", params)
    expired = _answer("'stale'", "NULL", "'expired'", params)
    text = _once(text, "  IF NOT EXISTS (SELECT 1 FROM append_request) THEN\n",
                 f"  IF NOT EXISTS (SELECT 1 FROM append_slot s WHERE {_fresh('s')}) THEN\n")
    text = _once(text, "            FROM append_request rq) x;", f"            FROM append_slot rq WHERE {_fresh('rq')}) x;")
    text = _once(text, "        INSERT INTO append_result (ticket, status, entry_id, detail, done_at)\n"
                       "          SELECT u.t, 'ok', r.o_first_id + u.o, r.o_hashes[u.o + 1], now() "
                       "FROM unnest(done, offs) AS u(t, o);\n",
                 f"        UPDATE append_slot s SET {batch_ok}\n"
                 "          FROM unnest(done, offs) AS u(t, o) WHERE s.ticket = u.t;\n")
    text = _once(text, "SELECT * FROM append_request rq WHERE rq.ticket = ANY (done)",
                 "SELECT * FROM append_slot rq WHERE rq.pending AND rq.ticket = ANY (done)")
    text = _once(text, "        INSERT INTO append_result (ticket, status, entry_id, detail, done_at)\n"
                       "          VALUES (q.ticket, r.o_status, r.o_first_id, r.o_hashes[1], now());\n",
                 f"        UPDATE append_slot s SET {alone}\n"
                 "          WHERE s.ticket = q.ticket;\n")
    text = _once(text, "        INSERT INTO append_result (ticket, status, entry_id, detail, done_at)\n"
                       "          VALUES (q.ticket, 'error', NULL, SQLSTATE || ': ' || SQLERRM, now());\n",
                 f"        UPDATE append_slot s SET {failed}\n"
                 "          WHERE s.ticket = q.ticket;\n")
    text = _once(text, "  DELETE FROM append_request rq WHERE rq.ticket = ANY (done);\n",
                 "  -- (every request in done is answered: its slot is no longer pending)\n")
    return _once(text, """  -- An answer nobody read (its writer died) goes after an hour: a scan of the table, so only
  -- about one batch in a hundred looks.
  IF random() < 0.01 THEN
    DELETE FROM append_result x WHERE x.done_at < now() - interval '1 hour';
  END IF;
""", f"""  -- About one batch in a hundred: requests that expired unappended are answered stale (their
  -- writers died, or will post again from fresh reads), and the slots of sessions that have
  -- ended, with nothing pending, go.
  IF random() < 0.01 THEN
    UPDATE append_slot x SET {expired} WHERE x.pending AND NOT ({_fresh('x')});
    DELETE FROM append_slot x
      WHERE NOT x.pending AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = x.owner);
  END IF;
""")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    before = _revision("0016")
    op.create_table(
        'append_slot',
        sa.Column('owner', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('ticket', sa.BigInteger(), nullable=False),
        sa.Column('pending', sa.Boolean(), nullable=False),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
        *before.argument_columns(),
        sa.Column('status', sa.String(length=16), nullable=True),
        sa.Column('entry_id', sa.BigInteger(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('owner', name=op.f('pk_append_slot')),
        **({"prefixes": ["UNLOGGED"]} if postgres else {}),
    )
    if postgres:
        op.execute("ALTER TABLE append_slot SET (fillfactor = 50)")
        op.execute("CREATE UNLOGGED SEQUENCE append_ticket OWNED BY append_slot.ticket")  # dropped with it
        op.execute(drain_function(before.PARAMS))
        op.execute(post_procedure(before.PARAMS))
    op.drop_table('append_result')
    op.drop_table('append_request')


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _revision("0016").queue_tables(postgres)
    if postgres:
        params = _revision("0016").PARAMS
        before = _revision("0027")
        op.execute(before.drain_function(params))
        op.execute(before.post_procedure(params))
    op.drop_table('append_slot')  # and its sequence
