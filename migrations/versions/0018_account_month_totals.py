"""Account month totals: every account's postings summed per calendar month, commodity, cause
(``entry.source_type``), posting kind (``''`` for none) and whether the posting names an
engagement, kept by the posting service with the postings (like ``account_balance`` and
``engagement_month_total``), so the income statement (CONTRACT §10) reads maintained totals, not
postings. Existing ledgers are backfilled from their postings.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    op.drop_table('account_month_total')
