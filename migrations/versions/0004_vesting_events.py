"""Vesting events: leave-of-absence pauses (per partner) and accelerations (per grant).

A schedule changes by adding a dated event, never by editing a grant or an earlier event, and the
database holds to it on both engines:
- neither table's rows can be deleted;
- an acceleration can never be updated;
- a pause can be updated only to record the end of an open pause (``ends_on`` from NULL to a date,
  with ``ended_at``); its start, reason, partner and an end once recorded never change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vesting_pause',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_vesting_pause_ends_after_start')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_vesting_pause_partner_id_partner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vesting_pause'))
    )
    with op.batch_alter_table('vesting_pause', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vesting_pause_partner_id'), ['partner_id'], unique=False)

    op.create_table('vesting_acceleration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(trim(reason)) > 0', name=op.f('ck_vesting_acceleration_reason_given')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_vesting_acceleration_quantity_positive')),
    sa.ForeignKeyConstraint(['grant_id'], ['grant.id'], name=op.f('fk_vesting_acceleration_grant_id_grant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vesting_acceleration'))
    )
    with op.batch_alter_table('vesting_acceleration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vesting_acceleration_grant_id'), ['grant_id'], unique=False)

    bind = op.get_bind()
    for sql in PG_GUARDS if bind.dialect.name == "postgresql" else SQLITE_GUARDS:
        op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS vesting_acceleration_no_update_delete ON vesting_acceleration")
        op.execute("DROP TRIGGER IF EXISTS vesting_pause_end_once ON vesting_pause")
        op.execute("DROP FUNCTION IF EXISTS vesting_acceleration_immutable()")
        op.execute("DROP FUNCTION IF EXISTS vesting_pause_end_once()")
    else:
        for trigger in ("vesting_acceleration_no_update", "vesting_acceleration_no_delete",
                        "vesting_pause_no_delete", "vesting_pause_end_once"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")

    with op.batch_alter_table('vesting_acceleration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vesting_acceleration_grant_id'))

    op.drop_table('vesting_acceleration')
    with op.batch_alter_table('vesting_pause', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vesting_pause_partner_id'))

    op.drop_table('vesting_pause')


SQLITE_GUARDS = [
    """CREATE TRIGGER vesting_acceleration_no_update BEFORE UPDATE ON vesting_acceleration
       BEGIN SELECT RAISE(ABORT, 'vesting accelerations are immutable: record another event instead'); END""",
    """CREATE TRIGGER vesting_acceleration_no_delete BEFORE DELETE ON vesting_acceleration
       BEGIN SELECT RAISE(ABORT, 'vesting accelerations are immutable: record another event instead'); END""",
    """CREATE TRIGGER vesting_pause_no_delete BEFORE DELETE ON vesting_pause
       BEGIN SELECT RAISE(ABORT, 'vesting pauses are immutable: record another event instead'); END""",
    """CREATE TRIGGER vesting_pause_end_once BEFORE UPDATE ON vesting_pause
       WHEN OLD.ends_on IS NOT NULL OR NEW.ends_on IS NULL
         OR NEW.id IS NOT OLD.id OR NEW.partner_id IS NOT OLD.partner_id
         OR NEW.starts_on IS NOT OLD.starts_on OR NEW.reason IS NOT OLD.reason
         OR NEW.recorded_at IS NOT OLD.recorded_at
       BEGIN SELECT RAISE(ABORT, 'a vesting pause only ever changes to record the end of an open pause'); END""",
]

PG_GUARDS = [
    """CREATE FUNCTION vesting_acceleration_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'vesting accelerations are immutable: record another event instead'
           USING ERRCODE = 'integrity_constraint_violation';
       END $$""",
    """CREATE TRIGGER vesting_acceleration_no_update_delete BEFORE UPDATE OR DELETE ON vesting_acceleration
       FOR EACH ROW EXECUTE FUNCTION vesting_acceleration_immutable()""",
    """CREATE FUNCTION vesting_pause_end_once() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' OR OLD.ends_on IS NOT NULL OR NEW.ends_on IS NULL
            OR (NEW.id, NEW.partner_id, NEW.starts_on, NEW.reason, NEW.recorded_at)
               IS DISTINCT FROM (OLD.id, OLD.partner_id, OLD.starts_on, OLD.reason, OLD.recorded_at) THEN
           RAISE EXCEPTION 'a vesting pause only ever changes to record the end of an open pause'
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER vesting_pause_end_once BEFORE UPDATE OR DELETE ON vesting_pause
       FOR EACH ROW EXECUTE FUNCTION vesting_pause_end_once()""",
]
