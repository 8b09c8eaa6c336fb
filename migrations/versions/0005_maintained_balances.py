"""Maintained balances: the current balance per account and commodity, kept by the posting service
in the same transaction as each posting, and a snapshot of every balance at each period's close.
Existing ledgers are backfilled from their postings (and their closed periods).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account_balance',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('commodity', sa.String(length=16), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_balance_account_id_account')),
    sa.PrimaryKeyConstraint('account_id', 'commodity', name=op.f('pk_account_balance'))
    )
    op.create_table('balance_snapshot',
    sa.Column('period_id', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('commodity', sa.String(length=16), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_balance_snapshot_account_id_account')),
    sa.ForeignKeyConstraint(['period_id'], ['period.id'], name=op.f('fk_balance_snapshot_period_id_period')),
    sa.PrimaryKeyConstraint('period_id', 'account_id', 'commodity', name=op.f('pk_balance_snapshot'))
    )
    op.execute(
        "INSERT INTO account_balance (account_id, commodity, balance) "
        "SELECT account_id, commodity, sum(amount) FROM posting GROUP BY account_id, commodity"
    )
    op.execute(
        "INSERT INTO balance_snapshot (period_id, account_id, commodity, balance) "
        "SELECT period.id, posting.account_id, posting.commodity, sum(posting.amount) "
        "FROM period JOIN entry ON entry.date <= period.ends_on JOIN posting ON posting.entry_id = entry.id "
        "WHERE period.status = 'closed' GROUP BY period.id, posting.account_id, posting.commodity"
    )


def downgrade() -> None:
    op.drop_table('balance_snapshot')
    op.drop_table('account_balance')
