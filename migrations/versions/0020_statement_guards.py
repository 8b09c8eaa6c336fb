"""The posting and entry guards once per statement (PostgreSQL), so a ``COPY`` of a million
postings is checked set-wise instead of by a million trigger calls.

0001 checked every posting as it was inserted (``posting_entry_open``: its entry is not written
yet) and every entry twice (``entry_balanced`` before the row, ``entry_balanced_at_commit``
deferred to the commit: at least two postings, summing to zero per commodity; 0006 added that
its posting detail matches). Here the same rules run ``AFTER INSERT … REFERENCING NEW TABLE …
FOR EACH STATEMENT`` over the statement's rows, as 0006's ``posting_detail_entry_open`` already
does for detail lines:

- ``posting_entry_open``: no added posting names an entry id at or below the highest written
  (entries are numbered in chain order, and every writer adds an entry's postings before the
  entry), which covers every posting the row trigger refused;
- ``entry_sealed``: every added entry has at least two postings, summing to zero per commodity
  (one grouped range scan of the added entries' postings), and its detail matches its date and
  sums to its postings (0006's condition, with ``NEW`` read as each row of ``added``).

The commit-time re-check is dropped with the row trigger: a posting can no longer reach an entry
once it is written (the first guard), and neither can a detail line (0006), so what the entry's
statement checked is what the commit would find. The database still refuses an unbalanced entry
whoever writes it. SQLite has no statement triggers: its row guards stay, and ``ledger import``
sets them aside inside its own transaction (``journal/bulk.py``).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def _revision(name: str, filename: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _detail_condition() -> str:
    """0006's detail condition, on the transition table's row ``a``."""
    return _revision("posting_detail_0006", "0006_posting_detail.py")._PG_DETAIL.replace("NEW.", "a.")


UPGRADE = [
    """CREATE OR REPLACE FUNCTION ledger_postings_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE written bigint;
       BEGIN
         SELECT min(a.entry_id) INTO written FROM added a
           WHERE a.entry_id <= (SELECT coalesce(max(e.id), 0) FROM entry e);
         IF written IS NOT NULL THEN
           RAISE EXCEPTION 'cannot add a posting to entry % already written', written
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         RETURN NULL;
       END $$""",
    "DROP TRIGGER posting_entry_open ON posting",
    """CREATE TRIGGER posting_entry_open AFTER INSERT ON posting
       REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_entry_open()""",
    # The added entries' postings are read in one range scan of the entry_id index (the ids of a
    # statement are consecutive in chain order; any others in the range are read and ignored).
    # Detail is checked per entry, by 0006's condition, only when the range has detail lines.
    """CREATE OR REPLACE FUNCTION ledger_entries_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE bad bigint; lo bigint; hi bigint;
       BEGIN
         SELECT min(a.id), max(a.id) INTO lo, hi FROM added a;
         SELECT min(a.id) INTO bad FROM added a
           LEFT JOIN (SELECT s.entry_id, sum(s.n) AS n, bool_or(s.total <> 0) AS off
                      FROM (SELECT p.entry_id, count(*) AS n, sum(p.amount) AS total FROM posting p
                            WHERE p.entry_id BETWEEN lo AND hi GROUP BY p.entry_id, p.commodity) s
                      GROUP BY s.entry_id) t ON t.entry_id = a.id
           WHERE t.entry_id IS NULL OR t.n < 2 OR t.off;
         IF bad IS NOT NULL THEN
           RAISE EXCEPTION 'unbalanced entry %: its postings must sum to zero per commodity', bad
             USING ERRCODE = 'check_violation';
         END IF;
         IF EXISTS (SELECT 1 FROM posting_detail d WHERE d.entry_id BETWEEN lo AND hi) THEN
           SELECT min(a.id) INTO bad FROM added a WHERE {detail};
           IF bad IS NOT NULL THEN
             RAISE EXCEPTION 'entry %: its detail does not match its date or sum to its postings per account, commodity and kind', bad
               USING ERRCODE = 'check_violation';
           END IF;
         END IF;
         RETURN NULL;
       END $$""",
    "DROP TRIGGER entry_balanced ON entry",
    "DROP TRIGGER entry_balanced_at_commit ON entry",
    """CREATE TRIGGER entry_sealed AFTER INSERT ON entry
       REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_sealed()""",
]

DOWNGRADE = [
    "DROP TRIGGER entry_sealed ON entry",
    "DROP FUNCTION ledger_entries_sealed()",
    # 0001's row triggers, on ledger_entry_balanced as 0006 left it (this revision does not change it).
    """CREATE TRIGGER entry_balanced BEFORE INSERT ON entry
       FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()""",
    """CREATE CONSTRAINT TRIGGER entry_balanced_at_commit AFTER INSERT ON entry
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()""",
    "DROP TRIGGER posting_entry_open ON posting",
    "DROP FUNCTION ledger_postings_entry_open()",
    """CREATE TRIGGER posting_entry_open BEFORE INSERT ON posting
       FOR EACH ROW EXECUTE FUNCTION ledger_posting_entry_open()""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    detail = _detail_condition()
    for sql in UPGRADE:
        op.execute(sql.replace("{detail}", detail))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in DOWNGRADE:
        op.execute(sql)
