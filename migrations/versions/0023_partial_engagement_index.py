"""The posting table's engagement index holds only the postings that name an engagement.

``ix_posting_engagement_id`` indexed every posting, and most name no engagement: an imported
entry's never do, nor do payments, overhead or draws. Both engines index NULLs, so each of those
postings wrote an index entry that no query reads — every reader of the index asks for one
engagement (``engagement_id = X``), a list of them (``IN``) or the tagged postings (``IS NOT
NULL``), each of which implies ``engagement_id IS NOT NULL``, so both planners still use the
partial index for them. ``ledger import`` writes one index fewer a posting. The downgrade puts the
full index back.

Revision ID: 0023
Revises: 0022
"""

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

TAGGED = "engagement_id IS NOT NULL"


def upgrade() -> None:
    # Not through batch_alter_table: on SQLite that may copy the table, and the copy would lose
    # the posting guards' triggers. Both engines drop and create an index in place.
    op.drop_index('ix_posting_engagement_id', table_name='posting')
    op.create_index('ix_posting_engagement_id', 'posting', ['engagement_id'], unique=False,
                    postgresql_where=sa.text(TAGGED), sqlite_where=sa.text(TAGGED))


def downgrade() -> None:
    op.drop_index('ix_posting_engagement_id', table_name='posting')
    op.create_index('ix_posting_engagement_id', 'posting', ['engagement_id'], unique=False)
