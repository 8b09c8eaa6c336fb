"""Engagement month totals: each engagement's postings summed per account, commodity and calendar
month, kept by the posting service with the postings (like ``account_balance``), so a close reads
its period's engagement margins without re-joining every invoice and cost. Existing ledgers are
backfilled from their engagement-tagged postings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('engagement_month_total',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('engagement_id', sa.Integer(), nullable=False),
    sa.Column('commodity', sa.String(length=16), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_engagement_month_total_account_id_account')),
    sa.ForeignKeyConstraint(['engagement_id'], ['engagement.id'], name=op.f('fk_engagement_month_total_engagement_id_engagement')),
    sa.PrimaryKeyConstraint('month', 'account_id', 'engagement_id', 'commodity', name=op.f('pk_engagement_month_total'))
    )
    month = "to_char(entry.date, 'YYYY-MM')" if op.get_bind().dialect.name == "postgresql" else "substr(entry.date, 1, 7)"
    op.execute(
        "INSERT INTO engagement_month_total (month, account_id, engagement_id, commodity, balance) "
        f"SELECT {month}, posting.account_id, posting.engagement_id, posting.commodity, sum(posting.amount) "
        "FROM posting JOIN entry ON entry.id = posting.entry_id WHERE posting.engagement_id IS NOT NULL "
        f"GROUP BY {month}, posting.account_id, posting.engagement_id, posting.commodity"
    )


def downgrade() -> None:
    op.drop_table('engagement_month_total')
