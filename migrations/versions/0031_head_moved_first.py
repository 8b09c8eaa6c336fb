"""The chain head moved before the postings, and checked at the commit by a foreign key (PostgreSQL):
a transaction's postings have their entries without a row of its own to check them by.

0030 checked a posting's entry at the commit from a row the transaction wrote for it
(``posting_check``) and a PL/pgSQL constraint trigger on that row. A one-entry call paid for the
row's version, the deferred event and the trigger's three queries (``procedure_bench.py
--functions``, 2026-12-04: 37.5–39.5 µs at the commit, and 15 µs of the postings' trigger), which
took two writers from 1.67 × pgledger to 1.49 ×.

Every writer already moves one row a transaction: the chain head. Here it moves first — the
writer claims the entry numbers it will write, then writes their postings and detail, then the
entries — and three rules make the head's move the whole check:

- ``chain_head.entry_id`` (``nullif(seq, 0)``, a stored generated column) is a foreign key to
  ``entry``, ``DEFERRABLE INITIALLY DEFERRED``: at the commit PostgreSQL's own check (C, one index
  probe) finds the entry at the head. A head moved over entries never written is refused there.
- ``entry_sealed`` refuses an entry that does not continue the written ones without a gap (the
  chain's numbering, which ``ledger verify`` reported after the fact): so an entry at the head
  means every entry up to it.
- ``posting_entry_open`` and ``posting_detail_entry_open`` refuse a posting or a detail line
  naming an entry beyond the head this transaction sees, with the key's error (SQLSTATE 23503,
  ``fk_posting_entry_id_entry``) for a posting. Only the transaction that moved the head sees it
  ahead of the written entries (another's move is uncommitted, and committed moves have their
  entries), so a posting goes only to an entry its own transaction claimed, and the commit finds
  that entry written. Detail lines had no key to their entry before; now they are held as the
  postings are.

``posting_check``, its trigger and function go. ``ledger_append`` moves the head in its step 4,
right after it numbers and hashes the entries; ``ledger import`` and the Python path for a close's
detail move the head's number first and its hash at the end (``journal.bulk.write``,
``journal.service``). SQLite keeps its key from a posting to its entry and needs none of this.

Measured the same day against 0030, alternating on a noisy machine: the commit's check and 15 µs
of the postings' trigger gone, the gap check +15 µs in ``entry_sealed``; ``pgbench`` at one client
medians 0.95–1.05 ×; two Python writers median 1.48 × pgledger over 25 rounds, as 0030's; the
import and eight writers unchanged within the noise (docs/performance.md). What it gives for
certain: no table or per-session row, and detail lines and the numbering's gaps checked too.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04
"""

from alembic import context, op


revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

HEAD_KEY = "fk_chain_head_entry_id_entry"
POSTING_KEY = "fk_posting_entry_id_entry"

_STEP_7 = "  -- 7. The chain head.\n  UPDATE chain_head SET seq = v_seq + n, hash = v_prev WHERE id = 1;\n"
_STEP_5 = "  -- 5. The postings and their detail, then the entries that seal them.\n"
_HEAD_FIRST = ("  -- The chain head, moved over the entries before their postings (0031): the commit's key\n"
               "  -- finds its entry, so every posting this call writes has its entry.\n"
               "  UPDATE chain_head SET seq = v_seq + n, hash = v_prev WHERE id = 1;\n")


def _revision(revision_id: str):
    """An earlier revision's module, as Alembic loaded it."""
    return context.script.get_revision(revision_id).module


def _once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"the earlier revision's function is not the one this revision changes: {old[:40]!r}")
    return text.replace(old, new)


def append_function() -> str:
    """0027's ``ledger_append`` with the head moved before step 5."""
    text = _once(_revision("0027").append_function(), _STEP_7, "")
    return _once(text, _STEP_5, _HEAD_FIRST + _STEP_5)


def _beyond_head(what: str) -> str:
    """Refuses the least of the added rows' entry ids beyond ``head`` (a posting's is the key's error)."""
    if what == "posting":
        error = (f"""'insert or update on table "posting" violates foreign key constraint "{POSTING_KEY}"'
             USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{POSTING_KEY}', TABLE = 'posting',""")
    else:
        error = """'cannot add detail to entry %: the chain head is not moved over it', missing
             USING ERRCODE = 'foreign_key_violation', TABLE = 'posting_detail',"""
    return f"""IF last_id > head THEN
           SELECT min(a.entry_id) INTO missing FROM added a WHERE a.entry_id > head;
           RAISE EXCEPTION {error}
                   DETAIL = format('Key (entry_id)=(%s) is not present in table "entry".', missing),
                   HINT = 'A writer moves the chain head over the entries it numbers before it writes their postings.';
         END IF;"""


def postings_function() -> str:
    return f"""CREATE OR REPLACE FUNCTION ledger_postings_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE first_id bigint; last_id bigint; written bigint; head bigint;
               accounts bigint; engagements bigint; present bigint; missing bigint;
       BEGIN
         SELECT min(a.entry_id), max(a.entry_id), (SELECT coalesce(max(e.id), 0) FROM entry e),
                (SELECT h.seq FROM chain_head h WHERE h.id = 1),
                count(DISTINCT a.account_id), count(DISTINCT a.engagement_id)
           INTO first_id, last_id, written, head, accounts, engagements FROM added a;
         IF first_id <= written THEN
           RAISE EXCEPTION 'cannot add a posting to entry % already written', first_id
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         {_beyond_head("posting")}
         {_revision("0029").references_checked()}
         RETURN NULL;
       END $$"""


def detail_function() -> str:
    return f"""CREATE OR REPLACE FUNCTION ledger_detail_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE first_id bigint; last_id bigint; written bigint; head bigint; missing bigint;
       BEGIN
         SELECT min(a.entry_id), max(a.entry_id), (SELECT coalesce(max(e.id), 0) FROM entry e),
                (SELECT h.seq FROM chain_head h WHERE h.id = 1)
           INTO first_id, last_id, written, head FROM added a;
         IF first_id <= written THEN
           RAISE EXCEPTION 'cannot add detail to entry % already written', first_id
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         {_beyond_head("detail")}
         RETURN NULL;
       END $$"""


# ``entry_sealed``: the added entries continue the written ones without a gap (ids are unique, so
# as many as their span, and the one below the least is written or the least is the first).
_NUMBERED = "SELECT min(a.id), max(a.id) INTO lo, hi FROM added a;"
_CONTIGUOUS = """SELECT min(a.id), max(a.id), count(*), (SELECT coalesce(max(e.id), 0) FROM entry e WHERE e.id < min(a.id))
           INTO lo, hi, added_n, below FROM added a;
         IF below <> lo - 1 OR hi - lo + 1 <> added_n THEN
           SELECT min(x.id) INTO missing FROM generate_series(below + 1, hi) x(id)
             WHERE NOT EXISTS (SELECT 1 FROM added a WHERE a.id = x.id);
           RAISE EXCEPTION 'cannot write entry %: entry % is not written', hi, missing
             USING ERRCODE = 'integrity_constraint_violation',
                   HINT = 'Entries are numbered in chain order without a gap.';
         END IF;"""


def _sealed_0029() -> str:
    """``ledger_entries_sealed`` as 0029 made it."""
    before = _revision("0029")
    return before._sealed(before.GUARDS).replace("{detail}", before.GUARDS._detail_condition())


def sealed_function() -> str:
    """0029's ``ledger_entries_sealed`` with the entries' numbering checked."""
    text = _once(_sealed_0029(), "DECLARE missing bigint;", "DECLARE below bigint; added_n bigint; missing bigint;")
    return _once(text, _NUMBERED, _CONTIGUOUS)


UPGRADE = [
    """ALTER TABLE chain_head ADD COLUMN entry_id bigint GENERATED ALWAYS AS (nullif(seq, 0)) STORED""",
    f"""ALTER TABLE chain_head ADD CONSTRAINT {HEAD_KEY} FOREIGN KEY (entry_id) REFERENCES entry (id)
        DEFERRABLE INITIALLY DEFERRED""",
    "DROP TABLE posting_check",  # its constraint trigger with it
    "DROP FUNCTION ledger_postings_have_entries()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in UPGRADE:
        op.execute(sql)
    for sql in (postings_function(), detail_function(), sealed_function(), append_function()):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_revision("0027").append_function())
    op.execute(_sealed_0029())
    op.execute(next(s for s in _revision("0006").PG if "FUNCTION ledger_detail_entry_open" in s)
               .replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    for sql in _revision("0030").UPGRADE[:-1]:  # posting_check, its check and the postings' function as 0030 made them
        op.execute(sql)
    op.execute(f"ALTER TABLE chain_head DROP CONSTRAINT {HEAD_KEY}")
    op.execute("ALTER TABLE chain_head DROP COLUMN entry_id")
