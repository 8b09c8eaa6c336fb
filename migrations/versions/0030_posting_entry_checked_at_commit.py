"""A posting's entry checked at the commit once a transaction, not once per posting (PostgreSQL).

The posting → entry key is the last per-row foreign key of the postings (0029 replaced the
others). It is deferred: every writer adds an entry's postings before the entry, so only the
commit can tell a posting whose entry never came. PostgreSQL's deferred key queues an event for
every posting and, at the commit, probes and locks its entry ``FOR KEY SHARE`` (a WAL record an
entry): measured 2026-12-04, dropping it took ``ledger import`` of 1,000,000 postings from 14.6 s
to 10.7 s.

Only row triggers can be deferred, so the commit's check hangs on a row:

- ``posting_check`` holds one row a database session (``owner``, its backend's pid, as 0028's
  ``append_slot``): the least entry id its transaction's postings name. The postings' statement
  trigger (``ledger_postings_entry_open``) writes it with ``INSERT … ON CONFLICT (owner) DO
  UPDATE … WHERE``, which rewrites the row only when this transaction has not written it yet (its
  version's ``xmin`` is another's) or the statement starts lower: one version and one check a
  transaction however many statements it writes. The row is rewritten in place (a HOT update on
  its own page, fillfactor 50, so it needs no vacuum) and the table is UNLOGGED (a row matters
  only until its transaction ends, so it writes no WAL).
- The deferred constraint trigger ``posting_check_at_commit`` on that row checks, when the
  transaction commits, that no posting from that entry id on names an entry not written. Every
  written entry has postings (``entry_sealed``), so the entries in the range are among the entry
  ids its postings name, and the check compares two counts over two index ranges, bounded at
  both ends (the highest entry a posting names, one probe), so that the plan PL/pgSQL caches
  reads the index ranges whatever the range (an open range's plan read the tables: 2.1 ms a
  commit). Only when the counts differ is the least missing entry looked for, and refused with
  the error the key raised (SQLSTATE 23503, ``fk_posting_entry_id_entry``, its detail).
- A statement rolled back to a savepoint takes its row version and its deferred event with it.
  Entries are never updated or deleted (0001), so no lock is taken on them.
- Rows of sessions that have ended are deleted by about one statement of postings in a thousand
  (a look at ``pg_stat_activity``).

The same trigger function now reads the statement's postings in one statement for the guard that
no posting joins a written entry and for the counts of 0029's checks, which lock the accounts and
engagements by a semi-join on the statement's postings.

What it costs one entry a call (``pgbench`` through ``ledger_post``, 2026-12-04): about 60 µs, the
trigger's statements and the commit's check against the per-row checks they replace (0.92–0.94 ×
at one client; at eight, where a batch of requests is one statement and one commit, 0.99–1.03 ×).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

KEY = "fk_posting_entry_id_entry"


def _revision(name: str, filename: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: 0029, whose checks of the accounts and engagements this revision's trigger runs too.
REFERENCES = _revision("references_0029", "0029_references_checked_per_statement.py")


UPGRADE = [
    """CREATE UNLOGGED TABLE posting_check (owner integer PRIMARY KEY, lo bigint NOT NULL) WITH (fillfactor = 50)""",
    f"""CREATE FUNCTION ledger_postings_have_entries() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE hi bigint; missing bigint;
       BEGIN
         -- Both ends bounded (the highest entry a posting names, one probe of the index), so that
         -- a plan made for any range reads the two index ranges rather than the tables.
         SELECT max(p.entry_id) INTO hi FROM posting p;
         IF (SELECT count(DISTINCT p.entry_id) FROM posting p WHERE p.entry_id BETWEEN NEW.lo AND hi)
            > (SELECT count(*) FROM entry e WHERE e.id BETWEEN NEW.lo AND hi) THEN
           SELECT min(p.entry_id) INTO missing FROM posting p
             WHERE p.entry_id BETWEEN NEW.lo AND hi AND NOT EXISTS (SELECT 1 FROM entry e WHERE e.id = p.entry_id);
           RAISE EXCEPTION 'insert or update on table "posting" violates foreign key constraint "{KEY}"'
             USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{KEY}', TABLE = 'posting',
                   DETAIL = format('Key (entry_id)=(%s) is not present in table "entry".', missing);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE CONSTRAINT TRIGGER posting_check_at_commit AFTER INSERT OR UPDATE ON posting_check
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_postings_have_entries()""",
    f"""CREATE OR REPLACE FUNCTION ledger_postings_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE first_id bigint; written bigint; accounts bigint; engagements bigint; present bigint; missing bigint;
       BEGIN
         SELECT min(a.entry_id), (SELECT coalesce(max(e.id), 0) FROM entry e),
                count(DISTINCT a.account_id), count(DISTINCT a.engagement_id)
           INTO first_id, written, accounts, engagements FROM added a;
         IF first_id <= written THEN
           RAISE EXCEPTION 'cannot add a posting to entry % already written', first_id
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         {REFERENCES.references_checked()}
         -- The commit's check starts at the transaction's least entry id: this session's row says
         -- so, rewritten only when this transaction has not written it yet or the statement starts
         -- lower (its version's xmin is then this transaction's id), so one check a transaction.
         IF first_id IS NOT NULL THEN
           INSERT INTO posting_check AS c (owner, lo) VALUES (pg_backend_pid(), first_id)
             ON CONFLICT (owner) DO UPDATE SET lo = EXCLUDED.lo
             WHERE NOT (c.xmin = pg_current_xact_id()::xid AND c.lo <= EXCLUDED.lo);
           IF random() < 0.001 THEN
             DELETE FROM posting_check x WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.pid = x.owner);
           END IF;
         END IF;
         RETURN NULL;
       END $$""",
    f"ALTER TABLE posting DROP CONSTRAINT {KEY}",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in UPGRADE:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE posting ADD CONSTRAINT {KEY} FOREIGN KEY (entry_id) REFERENCES entry (id) "
               "DEFERRABLE INITIALLY DEFERRED")
    op.execute(next(s for s in REFERENCES.UPGRADE if "FUNCTION ledger_postings_entry_open" in s))
    op.execute("DROP TABLE posting_check")  # its trigger with it
    op.execute("DROP FUNCTION ledger_postings_have_entries()")
