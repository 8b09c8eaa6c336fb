"""Engagement costs: each direct cost booked through the API keeps its kind (``subcontract`` to a
vetted outside firm, or ``expense``) and its firm, beside the ledger entry that holds the money, so
an engagement's profitability can tell its subcontracted share.

Chained after 0003 (governance and succession), which was written against 0001 at the same time:
one line of history, a single head.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cost',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('engagement_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.CheckConstraint("(kind = 'subcontract') = (firm_id IS NOT NULL)", name=op.f('ck_cost_firm_iff_subcontract')),
    sa.CheckConstraint("kind IN ('subcontract', 'expense')", name=op.f('ck_cost_kind')),
    sa.ForeignKeyConstraint(['engagement_id'], ['engagement.id'], name=op.f('fk_cost_engagement_id_engagement')),
    sa.ForeignKeyConstraint(['entry_id'], ['entry.id'], name=op.f('fk_cost_entry_id_entry')),
    sa.ForeignKeyConstraint(['firm_id'], ['firm.id'], name=op.f('fk_cost_firm_id_firm')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_cost_entry_id'))
    )
    with op.batch_alter_table('cost', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_engagement_id'), ['engagement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cost_firm_id'), ['firm_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cost', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cost_firm_id'))
        batch_op.drop_index(batch_op.f('ix_cost_engagement_id'))
    op.drop_table('cost')
