"""Governance and succession: proposals with their frozen rule and electorate, votes (every vote
kept; the latest counts), and retirements with their buyout.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:24:32.581437
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('proposer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('weighting', sa.String(length=10), nullable=False),
    sa.Column('quorum', sa.String(length=40), nullable=False),
    sa.Column('threshold', sa.String(length=16), nullable=False),
    sa.Column('of', sa.String(length=10), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('effect', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['proposer_id'], ['partner.id'], name=op.f('fk_proposal_proposer_id_partner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal'))
    )
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposal_status'), ['status'], unique=False)

    op.create_table('elector',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('weight', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_elector_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_elector_proposal_id_proposal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elector')),
    sa.UniqueConstraint('proposal_id', 'partner_id', name='uq_elector_proposal_partner')
    )
    with op.batch_alter_table('elector', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_elector_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('retirement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('effective_period', sa.String(length=8), nullable=False),
    sa.Column('successors', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('capital', sa.BigInteger(), nullable=True),
    sa.Column('goodwill', sa.BigInteger(), nullable=True),
    sa.Column('installments', sa.Integer(), nullable=False),
    sa.Column('installments_paid', sa.Integer(), nullable=False),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_retirement_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_retirement_proposal_id_proposal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retirement')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_retirement_partner_id'))
    )
    with op.batch_alter_table('retirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retirement_effective_period'), ['effective_period'], unique=False)

    op.create_table('vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.String(length=8), nullable=False),
    sa.Column('cast_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_vote_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_vote_proposal_id_proposal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote'))
    )
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_proposal_id'), ['proposal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_proposal_id'))

    op.drop_table('vote')
    with op.batch_alter_table('retirement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retirement_effective_period'))

    op.drop_table('retirement')
    with op.batch_alter_table('elector', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_elector_proposal_id'))

    op.drop_table('elector')
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposal_status'))

    op.drop_table('proposal')
