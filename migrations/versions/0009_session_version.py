"""``app_user.session_version``: part of every web session's id, raised by sign-out and by a new
password so that every session of the user ends (a copied session cookie included).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default=sa.text('1'), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.drop_column('session_version')
