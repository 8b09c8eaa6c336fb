"""A posting's account and engagement, and an entry's reversed entry, checked once per statement
(PostgreSQL), so a ``COPY`` of a million postings does not fire a million foreign-key checks.

PostgreSQL checks a foreign key by a trigger it queues and fires for every inserted row, whatever
the row holds (a null key included: it skips a check by inspection only for updates), each firing
one index probe and one row lock. Measured on ``ledger import`` of 1,000,000 postings
(2026-12-04): the keys of ``posting`` and ``entry`` were about 10 s of its 24 s; the three replaced
here (account, engagement, reversed entry) about a fifth of it. Here they are checked as 0020
checks the entry guards, ``AFTER INSERT … REFERENCING NEW TABLE … FOR EACH STATEMENT``, over the
statement's distinct keys:

- ``posting_entry_open`` (``ledger_postings_entry_open``) also locks the accounts and engagements
  the added postings name ``FOR KEY SHARE`` in one statement each (the lock a foreign key's check
  takes, so a concurrent delete waits for this transaction and then sees its postings) and refuses
  a key it did not find, with the error PostgreSQL raises for the constraint: SQLSTATE 23503,
  the same constraint name and detail.
- ``entry_sealed`` (``ledger_entries_sealed``) also refuses an added entry reversing none written.
  Entries are never updated or deleted (0001's guard), so no lock is needed.
- ``account_referenced`` and ``engagement_referenced``: ``BEFORE DELETE OR UPDATE OF id`` row
  triggers refusing to remove or renumber a row a posting names (the constraint's ``NO ACTION``).
  The row is locked before the trigger runs, so it waits for a transaction holding the key
  share, and reads with a snapshot taken after.

The posting → entry key stays a deferred constraint: every writer adds an entry's postings before
the entry, so only the commit can tell a posting whose entry never came. SQLite keeps every key
(``ledger import`` checks them set-wise per batch there, ``journal/bulk.py``). The models keep the
three keys (the ORM joins by them); ``journal.models.KEYS_AS_TRIGGERS`` names them, so the
comparison of the models with the database leaves them out on PostgreSQL.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04
"""

import importlib.util
from pathlib import Path

from alembic import op


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

#: (table, column, referred table, constraint) for each key checked per statement here.
KEYS = (("posting", "account_id", "account", "fk_posting_account_id_account"),
        ("posting", "engagement_id", "engagement", "fk_posting_engagement_id_engagement"),
        ("entry", "reverses_id", "entry", "fk_entry_reverses_id_entry"))


def _revision(name: str, filename: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _raise_missing(column: str, referred: str, constraint: str, table: str = "posting") -> str:
    return (f"""RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{constraint}"'
             USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{constraint}', TABLE = '{table}',
                   DETAIL = format('Key ({column})=(%s) is not present in table "{referred}".', missing);""")


def _checked(column: str, referred: str, constraint: str) -> str:
    """The statement's distinct ``column``s (their number in the variable ``{column}s``) locked
    ``FOR KEY SHARE`` in ``referred`` in one statement (the lock a key's check takes: a delete waits
    for this transaction, then sees its postings); the least one missing refused."""
    return f"""SELECT count(*) INTO present FROM (SELECT FROM {referred} c
                                                WHERE c.id IN (SELECT a.{column}_id FROM added a) FOR KEY SHARE OF c) r;
         IF present < {column}s THEN
           SELECT min(a.{column}_id) INTO missing FROM added a
             WHERE a.{column}_id IS NOT NULL AND NOT EXISTS (SELECT FROM {referred} c WHERE c.id = a.{column}_id);
           {_raise_missing(column + '_id', referred, constraint)}
         END IF;"""


def references_checked() -> str:
    """The postings' accounts and engagements checked (``_checked``), given the numbers of each
    in ``accounts`` and ``engagements``; 0030's trigger runs the same."""
    return f"""{_checked("account", "account", "fk_posting_account_id_account")}
         IF engagements > 0 THEN
           {_checked("engagement", "engagement", "fk_posting_engagement_id_engagement")}
         END IF;"""


#: 0020, whose two statement triggers' functions this revision extends.
GUARDS = _revision("statement_guards_0020", "0020_statement_guards.py")


def _open_with_references() -> str:
    """0020's ``ledger_postings_entry_open`` with the statement's accounts and engagements checked
    after its own check."""
    sql = next(s for s in GUARDS.UPGRADE if "FUNCTION ledger_postings_entry_open" in s)
    sql = sql.replace("DECLARE written bigint;",
                      "DECLARE written bigint; accounts bigint; engagements bigint; present bigint; missing bigint;")
    checks = f"""
         SELECT count(DISTINCT a.account_id), count(DISTINCT a.engagement_id) INTO accounts, engagements FROM added a;
         {references_checked()}"""
    end = "\n         RETURN NULL;\n       END $$"
    assert sql.count(end) == 1
    return sql.replace(end, checks + end)


UPGRADE = [
    *(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}" for table, _, _, constraint in KEYS),
    _open_with_references(),
    # A row a posting names is neither deleted nor renumbered (the keys' NO ACTION).
    """CREATE OR REPLACE FUNCTION ledger_referenced_by_postings() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE named boolean;
       BEGIN
         IF TG_OP = 'UPDATE' AND NEW.id IS NOT DISTINCT FROM OLD.id THEN
           RETURN NEW;
         END IF;
         EXECUTE format('SELECT EXISTS (SELECT 1 FROM posting WHERE %I = $1)', TG_ARGV[0]) INTO named USING OLD.id;
         IF named THEN
           RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "posting"',
                 TG_TABLE_NAME, TG_ARGV[1]
             USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[1], TABLE = TG_TABLE_NAME,
                   DETAIL = format('Key (id)=(%s) is still referenced from table "posting".', OLD.id);
         END IF;
         RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
       END $$""",
    """CREATE TRIGGER account_referenced BEFORE DELETE OR UPDATE OF id ON account
       FOR EACH ROW EXECUTE FUNCTION ledger_referenced_by_postings('account_id', 'fk_posting_account_id_account')""",
    """CREATE TRIGGER engagement_referenced BEFORE DELETE OR UPDATE OF id ON engagement
       FOR EACH ROW EXECUTE FUNCTION ledger_referenced_by_postings('engagement_id', 'fk_posting_engagement_id_engagement')""",
]

# The reversed entry, checked in 0020's ``ledger_entries_sealed`` before its balance check.
REVERSED = """SELECT min(a.reverses_id) INTO missing FROM added a
           WHERE a.reverses_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entry e WHERE e.id = a.reverses_id);
         IF missing IS NOT NULL THEN
           """ + _raise_missing("reverses_id", "entry", "fk_entry_reverses_id_entry", "entry") + """
         END IF;
         SELECT min(a.id), max(a.id) INTO lo, hi FROM added a;"""


def _sealed(statement_guards) -> str:
    """0020's ``ledger_entries_sealed`` with the reversed entry checked first."""
    sql = next(s for s in statement_guards.UPGRADE if "FUNCTION ledger_entries_sealed" in s)
    sql = sql.replace("DECLARE bad bigint;", "DECLARE missing bigint; bad bigint;")
    return sql.replace("SELECT min(a.id), max(a.id) INTO lo, hi FROM added a;", REVERSED)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in UPGRADE:
        op.execute(sql)
    op.execute(_sealed(GUARDS).replace("{detail}", GUARDS._detail_condition()))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER engagement_referenced ON engagement")
    op.execute("DROP TRIGGER account_referenced ON account")
    op.execute("DROP FUNCTION ledger_referenced_by_postings()")
    for sql in GUARDS.UPGRADE:
        if sql.startswith("CREATE OR REPLACE FUNCTION"):  # 0020's two functions as it made them
            op.execute(sql.replace("{detail}", GUARDS._detail_condition()))
    for table, column, referred, constraint in KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY ({column}) REFERENCES {referred} (id)")
