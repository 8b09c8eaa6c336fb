"""Account month totals: every account's postings summed per calendar month, commodity, cause
(``entry.source_type``), posting kind (``''`` for none) and whether the posting names an
engagement, kept by the posting service with the postings (like ``account_balance`` and
``engagement_month_total``), so the income statement (CONTRACT §10) reads maintained totals, not
postings. Existing ledgers are backfilled from their postings. On PostgreSQL ``ledger_append``
(0016) is replaced by the same function with one more maintained table in its step 6.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


# The upsert ``ledger_append`` runs with the others, placed before its step 7 (the chain head).
MONTH_TOTALS = """  INSERT INTO account_month_total (month, account_id, commodity, source_type, kind, tagged, balance)
    SELECT to_char(e_date[p.e], 'YYYY-MM'), p.acc, p.c, e_source_type[p.e], coalesce(p.k, ''),
           p.eng IS NOT NULL, sum(p.amt)::bigint
    FROM unnest(p_entry, p_account, p_commodity, p_amount, p_kind, p_engagement) AS p(e, acc, c, amt, k, eng)
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (month, account_id, commodity, source_type, kind, tagged)
    DO UPDATE SET balance = account_month_total.balance + EXCLUDED.balance;
"""
STEP_7 = "  -- 7. The chain head."


def _append_function() -> str:
    """0016's ``ledger_append`` as it created it (read from that revision's file)."""
    path = Path(__file__).with_name("0016_append_path.py")
    spec = importlib.util.spec_from_file_location("append_path_0016", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.APPEND


def upgrade() -> None:
    op.create_table('account_month_total',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('commodity', sa.String(length=16), nullable=False),
    sa.Column('source_type', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('tagged', sa.Boolean(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_month_total_account_id_account')),
    sa.PrimaryKeyConstraint('month', 'account_id', 'commodity', 'source_type', 'kind', 'tagged',
                            name=op.f('pk_account_month_total'))
    )
    pg = op.get_bind().dialect.name == "postgresql"
    month = "to_char(entry.date, 'YYYY-MM')" if pg else "substr(entry.date, 1, 7)"
    tagged = "(posting.engagement_id IS NOT NULL)"
    op.execute(
        "INSERT INTO account_month_total (month, account_id, commodity, source_type, kind, tagged, balance) "
        f"SELECT {month}, posting.account_id, posting.commodity, entry.source_type, coalesce(posting.kind, ''), "
        f"{tagged}, sum(posting.amount) FROM posting JOIN entry ON entry.id = posting.entry_id "
        f"GROUP BY {month}, posting.account_id, posting.commodity, entry.source_type, coalesce(posting.kind, ''), {tagged}"
    )
    if pg:
        append = _append_function()
        assert STEP_7 in append
        op.execute(append.replace(STEP_7, MONTH_TOTALS + STEP_7))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_append_function())
    op.drop_table('account_month_total')
