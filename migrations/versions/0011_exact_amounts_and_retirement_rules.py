"""Money in every ISO 4217 currency, and the rules of CONTRACT §7:

- amounts are stored as BIGINT ten-thousandths (the most minor units an ISO 4217 currency has),
  not hundredths, so a BHD partnership keeps its fils: every stored amount is multiplied by 100.
  The ledger's immutability guards are lifted for the one UPDATE and put back as they were; the
  hash chain is unchanged (entries hash their amounts at the commodity's places, not as stored);
- ``account.closed_after``: the last day an account takes postings (a retiree's capital after
  their effective period);
- ``period.pool_basis``: how the close split the pool (``equal`` when nobody held vested units);
- ``governance_rule.min_open_hours`` (default 24): the shortest vote a proposal kind allows;
  and the ``amend_vesting`` kind gets its rule (the charter's defaults) in a founded database.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

#: (table, column) of every amount stored by ``ledger.db.ExactAmount``.
AMOUNTS = [("posting", "amount"), ("posting_detail", "amount"), ("account_balance", "balance"),
           ("balance_snapshot", "balance"), ("engagement_month_total", "balance"), ("cost", "amount"),
           ("retirement", "capital"), ("retirement", "goodwill")]
#: The immutability guards an UPDATE of amounts must get past, by table.
GUARDED = {"posting": {"sqlite": ["posting_no_update"], "postgresql": ["posting_no_update_delete"]},
           "posting_detail": {"sqlite": ["posting_detail_no_update"], "postgresql": ["posting_detail_no_update_delete"]}}


def _rescale(expression: str, refuse_inexact: bool = False) -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    saved = {}
    for table, triggers in GUARDED.items():
        for trigger in triggers[dialect]:
            if dialect == "postgresql":
                op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
            else:
                saved[trigger] = bind.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)).scalar()
                op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table, column in AMOUNTS:
        if refuse_inexact:
            bad = bind.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE ({column} / 100) * 100 <> {column}").scalar()
            if bad:
                raise RuntimeError(f"{table}.{column} holds amounts with more than two decimals: they cannot go back to "
                                   "hundredths")
        op.execute(f"UPDATE {table} SET {column} = {expression.format(column=column)} WHERE {column} IS NOT NULL")
    for table, triggers in GUARDED.items():
        for trigger in triggers[dialect]:
            if dialect == "postgresql":
                op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            elif saved.get(trigger):
                op.execute(saved[trigger])


def upgrade() -> None:
    _rescale("{column} * 100")
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_after', sa.Date(), nullable=True))
    with op.batch_alter_table('period', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pool_basis', sa.String(length=16), nullable=True))
    with op.batch_alter_table('governance_rule', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_open_hours', sa.Integer(), server_default='24', nullable=False))
    op.execute("INSERT INTO governance_rule (kind, weighting, quorum, threshold, of, min_open_hours) "
               "SELECT 'amend_vesting', 'member', '0.5', 'majority', 'cast', 24 "
               "WHERE EXISTS (SELECT 1 FROM governance_rule) "
               "AND NOT EXISTS (SELECT 1 FROM governance_rule WHERE kind = 'amend_vesting')")


def downgrade() -> None:
    op.execute("DELETE FROM governance_rule WHERE kind = 'amend_vesting'")
    with op.batch_alter_table('governance_rule', schema=None) as batch_op:
        batch_op.drop_column('min_open_hours')
    with op.batch_alter_table('period', schema=None) as batch_op:
        batch_op.drop_column('pool_basis')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('closed_after')
    _rescale("{column} / 100", refuse_inexact=True)
