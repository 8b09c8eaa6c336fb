"""The journal's own settings (``books``: currency, period kind, first day), read by the journal
instead of the partnership's row; and ``partner.leaves_on``, the last day of a retirement that has
passed its vote. Existing data is carried over: the partnership's three columns move to ``books``
(and the partnership points at it), a scheduled retirement's last day fills ``leaves_on``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _last_day_sql(kind_col: str, pid_col: str) -> str:
    """SQL for the last day of a period id (``2026-01`` or ``2026-Q1``), on either engine."""
    if op.get_bind().dialect.name == "postgresql":
        return (f"(CASE WHEN {kind_col} = 'quarter' "
                f"THEN (to_date(substr({pid_col}, 1, 4) || '-' || lpad(((substr({pid_col}, 7, 1)::int) * 3)::text, 2, '0') || '-01', 'YYYY-MM-DD') + interval '1 month' - interval '1 day')::date "
                f"ELSE (to_date({pid_col} || '-01', 'YYYY-MM-DD') + interval '1 month' - interval '1 day')::date END)")
    return (f"(CASE WHEN {kind_col} = 'quarter' "
            f"THEN date(substr({pid_col}, 1, 4) || '-' || printf('%02d', CAST(substr({pid_col}, 7, 1) AS INTEGER) * 3) || '-01', '+1 month', '-1 day') "
            f"ELSE date({pid_col} || '-01', '+1 month', '-1 day') END)")


def upgrade() -> None:
    op.create_table('books',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_kind', sa.String(length=10), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_books'))
    )
    op.execute("INSERT INTO books (id, currency, period_kind, starts_on) "
               "SELECT 1, currency, period_kind, starts_on FROM partnership ORDER BY id LIMIT 1")
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaves_on', sa.Date(), nullable=True))
    last_day = _last_day_sql("books.period_kind", "retirement.effective_period")
    op.execute(f"UPDATE partner SET leaves_on = (SELECT {last_day} FROM retirement, books "
               "WHERE retirement.partner_id = partner.id AND retirement.status = 'scheduled') "
               "WHERE id IN (SELECT partner_id FROM retirement WHERE status = 'scheduled')")
    with op.batch_alter_table('partnership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('books_id', sa.Integer(), nullable=True))
    op.execute("UPDATE partnership SET books_id = 1")
    with op.batch_alter_table('partnership', schema=None) as batch_op:
        batch_op.alter_column('books_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_partnership_books_id_books'), 'books', ['books_id'], ['id'])
        batch_op.drop_column('currency')
        batch_op.drop_column('period_kind')
        batch_op.drop_column('starts_on')


def downgrade() -> None:
    with op.batch_alter_table('partnership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('starts_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('period_kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
    op.execute("UPDATE partnership SET currency = (SELECT currency FROM books WHERE books.id = partnership.books_id), "
               "period_kind = (SELECT period_kind FROM books WHERE books.id = partnership.books_id), "
               "starts_on = (SELECT starts_on FROM books WHERE books.id = partnership.books_id)")
    with op.batch_alter_table('partnership', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_partnership_books_id_books'), type_='foreignkey')
        batch_op.drop_column('books_id')
        batch_op.alter_column('currency', existing_type=sa.String(length=3), nullable=False)
        batch_op.alter_column('period_kind', existing_type=sa.String(length=10), nullable=False)
        batch_op.alter_column('starts_on', existing_type=sa.Date(), nullable=False)
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.drop_column('leaves_on')
    op.drop_table('books')
