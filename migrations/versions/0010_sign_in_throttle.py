"""``sign_in_throttle``: failed sign-ins counted in the database, shared by every worker, per
(email, client address) and per address, with the time each key stays locked (``auth.throttle``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_throttle',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_throttle')),
    sa.UniqueConstraint('scope', 'key', name='uq_sign_in_throttle_scope_key')
    )
    op.create_index(op.f('ix_sign_in_throttle_last_failure_at'), 'sign_in_throttle', ['last_failure_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_throttle_last_failure_at'), table_name='sign_in_throttle')
    op.drop_table('sign_in_throttle')
