"""Posting detail: a posting's breakdown by engagement, sealed by its entry.

A close now credits each partner's capital once per practice and kind and breaks the posting down
in ``posting_detail``, one line per engagement, so a 20,000-engagement close writes a few thousand
postings instead of 80,000 while statements still list every engagement. The lines are guarded
like postings, on both engines:
- a line can never be updated or deleted;
- a line cannot join an entry already written (lines are written before their entry);
- the entry's insert (and, on PostgreSQL, the deferred check at commit) refuses lines that do not
  sum, per account, commodity and kind, to the entry's postings.

Earlier closes keep their per-engagement postings: nothing is migrated, and statements read both.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_BALANCED = ("(SELECT count(*) FROM posting WHERE entry_id = NEW.id) < 2"
             " OR EXISTS (SELECT 1 FROM posting WHERE entry_id = NEW.id GROUP BY commodity HAVING sum(amount) <> 0)")
# The detail of the entry carries its date and, per (account, commodity, kind), sums to its postings.
_DETAIL = ("EXISTS (SELECT 1 FROM posting_detail d WHERE d.entry_id = NEW.id AND d.date <> NEW.date)"
           " OR EXISTS (SELECT 1 FROM posting_detail d WHERE d.entry_id = NEW.id"
           " GROUP BY d.account_id, d.commodity, d.kind"
           " HAVING sum(d.amount) <> (SELECT coalesce(sum(p.amount), 0) FROM posting p"
           " WHERE p.entry_id = NEW.id AND p.account_id = d.account_id"
           " AND p.commodity = d.commodity AND p.kind = d.kind))")
# PostgreSQL: the same, reading the entry's lines once by primary key (a MATERIALIZED CTE), so the
# planner never walks the (account_id, date) index for its order instead — which it would on a
# table whose statistics still say "empty", as on a ledger's first large close.
_PG_DETAIL = ("EXISTS (WITH lines AS MATERIALIZED (SELECT account_id, commodity, kind, amount, date"
              " FROM posting_detail WHERE entry_id = NEW.id)"
              " SELECT 1 FROM lines l GROUP BY l.account_id, l.commodity, l.kind"
              " HAVING bool_or(l.date <> NEW.date) OR sum(l.amount) <> (SELECT coalesce(sum(p.amount), 0)"
              " FROM posting p WHERE p.entry_id = NEW.id AND p.account_id = l.account_id"
              " AND p.commodity = l.commodity AND p.kind = l.kind))")

SQLITE = [
    """CREATE TRIGGER posting_detail_no_update BEFORE UPDATE ON posting_detail
       BEGIN SELECT RAISE(ABORT, 'ledger posting detail is immutable: post a reversal instead'); END""",
    """CREATE TRIGGER posting_detail_no_delete BEFORE DELETE ON posting_detail
       BEGIN SELECT RAISE(ABORT, 'ledger posting detail is immutable: post a reversal instead'); END""",
    """CREATE TRIGGER posting_detail_entry_open BEFORE INSERT ON posting_detail
       WHEN EXISTS (SELECT 1 FROM entry WHERE id = NEW.entry_id)
       BEGIN SELECT RAISE(ABORT, 'cannot add detail to an entry already written'); END""",
    f"""CREATE TRIGGER entry_detail_agrees BEFORE INSERT ON entry
       WHEN {_DETAIL}
       BEGIN SELECT RAISE(ABORT, 'entry detail does not match its date or sum to its postings per account, commodity and kind'); END""",
]

PG = [
    """CREATE TRIGGER posting_detail_no_update_delete BEFORE UPDATE OR DELETE ON posting_detail
       FOR EACH ROW EXECUTE FUNCTION ledger_immutable()""",
    # One set-based check per statement (a COPY of 80,000 lines runs it once), not one per row:
    # entries are numbered in chain order and their lines written before them, so a line whose
    # entry id is not beyond the chain head names an entry already written.
    """CREATE FUNCTION ledger_detail_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE written bigint;
       BEGIN
         SELECT min(a.entry_id) INTO written FROM added a
           WHERE a.entry_id <= (SELECT seq FROM chain_head WHERE id = 1);
         IF written IS NOT NULL THEN
           RAISE EXCEPTION 'cannot add detail to entry % already written', written
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER posting_detail_entry_open AFTER INSERT ON posting_detail
       REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ledger_detail_entry_open()""",
    f"""CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF {_BALANCED} THEN
           RAISE EXCEPTION 'unbalanced entry %: its postings must sum to zero per commodity', NEW.id
             USING ERRCODE = 'check_violation';
         END IF;
         IF {_PG_DETAIL} THEN
           RAISE EXCEPTION 'entry %: its detail does not match its date or sum to its postings per account, commodity and kind', NEW.id
             USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$""",
]

_PG_OLD_BALANCED = f"""CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF {_BALANCED} THEN
           RAISE EXCEPTION 'unbalanced entry %: its postings must sum to zero per commodity', NEW.id
             USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$"""


def upgrade() -> None:
    op.create_table('posting_detail',
    sa.Column('entry_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('line_no', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('commodity', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('engagement_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('entry_id', 'line_no', name=op.f('pk_posting_detail')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('posting_detail', schema=None) as batch_op:
        batch_op.create_index('ix_posting_detail_account_date', ['account_id', 'date'], unique=False)
    for sql in PG if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_OLD_BALANCED)
        op.execute("DROP TRIGGER IF EXISTS posting_detail_entry_open ON posting_detail")
        op.execute("DROP TRIGGER IF EXISTS posting_detail_no_update_delete ON posting_detail")
        op.execute("DROP FUNCTION IF EXISTS ledger_detail_entry_open()")
    else:
        op.execute("DROP TRIGGER IF EXISTS entry_detail_agrees")
    op.drop_table('posting_detail')
