"""The entry's hash loses its unique index: it is unique by construction, and nothing looks it up.

``entry.hash`` is ``sha256(prev_hash ‖ head ‖ id ‖ tail)``: it hashes the entry's own id, which the
primary key keeps unique, so two entries share a hash only if SHA-256 collides. ``verify``
recomputes every hash from the entry's content and checks each link of the chain, which a copied or
altered hash fails whatever an index says; and no query reads an entry by its hash (statements,
exports and the API read by id, date, account or key). The index only cost every write: one more
B-tree insert an entry, and the worst kind — at a random place (a hash's order has nothing to do
with the chain's), so a batch of an import dirties pages all over it. Measured 2026-12-03 on this
machine, 1,000,000 postings imported in-process, the index dropped against kept, alternating:
SQLite 106,888 / 116,686 postings/s against 93,131 / 90,882 (the batches' writing 5.7–6.2 s
against 7.8–8.0 s); PostgreSQL 54,262 / 53,843/s against 40,939 / 47,181.

PostgreSQL drops the constraint in place. SQLite cannot drop a table constraint, so the table is
made again by SQLite's own procedure for such changes, in one transaction: the new table created
from the old one's own stored definition less that one constraint, the rows copied in id order,
the old table dropped and the new one renamed to ``entry`` (with ``legacy_alter_table`` on, so that
the rename leaves the triggers of other tables, which name ``entry``, as they are), then the date
index and the entry's four guard triggers created again from their stored definitions — after
the copy, which needs none of them re-proved. The postings' and details' foreign keys name
``entry`` and find it again; ``PRAGMA foreign_key_check`` then proves that no row lost its parent,
or the migration fails and its transaction is rolled back. The procedure needs SQLite's foreign
keys off on the migration's connection (they are: Alembic's engine is a plain one, and SQLite's
default is off), and refuses to run otherwise.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03
"""

import re

from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

CONSTRAINT = "CONSTRAINT uq_entry_hash UNIQUE (hash)"
#: Where the constraint stands in the table's definition (0001's), and where the downgrade puts it back.
BEFORE = "CONSTRAINT uq_entry_idempotency_key UNIQUE (idempotency_key)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_entry_hash", "entry", type_="unique")
        return
    _rebuild_entry(lambda sql: _once(re.sub(re.escape(CONSTRAINT) + r",\s*", "", sql), sql))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint("uq_entry_hash", "entry", ["hash"])
        return
    _rebuild_entry(lambda sql: _once(sql.replace(BEFORE, f"{CONSTRAINT}, \n\t{BEFORE}"), sql))


def _once(changed: str, sql: str) -> str:
    if changed == sql:
        raise RuntimeError("the entry table's definition is not the one this revision changes")
    return changed


def _rebuild_entry(change) -> None:
    """SQLite: ``entry`` made again from its stored definition as ``change`` rewrites it, with its
    rows, its index and its triggers (see the module's docstring)."""
    bind = op.get_bind()
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite's foreign keys are on: the entry table cannot be rebuilt with them on")
    raw = bind.connection.driver_connection
    if not raw.in_transaction:
        bind.exec_driver_sql("BEGIN")  # the DDL below too, not only the copy: all or nothing
    table_sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entry'").scalar()
    others = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'entry' AND type IN ('index', 'trigger') AND sql IS NOT NULL "
        "ORDER BY type, name").scalars().all()
    legacy = bind.exec_driver_sql("PRAGMA legacy_alter_table").scalar()
    # (A table SQLite renamed is stored as ``CREATE TABLE "entry"``.)
    new_sql = _once(re.sub(r'^CREATE TABLE ("?)entry\1\s*\(', "CREATE TABLE entry_0025 (", change(table_sql)), table_sql)
    op.execute(new_sql)
    op.execute("INSERT INTO entry_0025 SELECT * FROM entry ORDER BY id")
    op.execute("DROP TABLE entry")
    op.execute("PRAGMA legacy_alter_table = ON")
    try:
        op.execute("ALTER TABLE entry_0025 RENAME TO entry")
    finally:
        op.execute(f"PRAGMA legacy_alter_table = {int(bool(legacy))}")
    for sql in others:
        op.execute(sql)
    dangling = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if dangling:
        raise RuntimeError(f"rebuilding the entry table left rows without their parent: {dangling[:5]}")
