"""Delegated votes (CONTRACT §8): a partner's vote delegated to another, for one proposal or
standing, revocable, with its history kept (rows are never deleted; a revocation is a date).

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delegator_id', sa.Integer(), nullable=False),
    sa.Column('delegate_id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delegate_id'], ['partner.id'], name=op.f('fk_delegation_delegate_id_partner')),
    sa.ForeignKeyConstraint(['delegator_id'], ['partner.id'], name=op.f('fk_delegation_delegator_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_delegation_proposal_id_proposal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation'))
    )
    op.create_index('ix_delegation_delegator_in_force', 'delegation', ['delegator_id', 'proposal_id', 'revoked_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_delegation_delegator_in_force', table_name='delegation')
    op.drop_table('delegation')
