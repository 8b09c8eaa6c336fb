"""An idempotency record may answer with the entry it was written with, instead of a stored body.

``POST /api/v1/ledger/entries`` with an ``Idempotency-Key`` writes its record with the entry and
commits in the same round trip (on PostgreSQL the call and the record's ``INSERT`` are one
statement, its own transaction), so the chain's lock is released by the server alone, never
waiting on the worker to build the response. The response does not exist yet when the record is
written, so the record names the entry (``entry_id``, from the call's answer) and a replay
rebuilds the answer from it: an entry never changes, so the answer is the first one, byte for
byte (``tests/test_api_idempotency_entry.py``).

- ``entry_id``: the entry the request wrote (nullable; a foreign key to ``entry``).
- ``body`` becomes nullable; ``ck_idempotency_record_answer``: a record has a body or an entry.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op


revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('idempotency_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_id', sa.BigInteger(), nullable=True))
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_idempotency_record_entry_id_entry'), 'entry', ['entry_id'], ['id'])
        batch_op.create_check_constraint('answer', 'body IS NOT NULL OR entry_id IS NOT NULL')


def downgrade():
    # A record answered by its entry gets the entry's id as its body's stand-in: a downgrade keeps
    # the key (a retry is still refused a second entry) but can no longer replay that answer.
    op.execute("UPDATE idempotency_record SET body = '{\"id\": ' || entry_id || '}' WHERE body IS NULL")
    with op.batch_alter_table('idempotency_record', schema=None) as batch_op:
        batch_op.drop_constraint('answer', type_='check')
        batch_op.drop_constraint(batch_op.f('fk_idempotency_record_entry_id_entry'), type_='foreignkey')
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('entry_id')
