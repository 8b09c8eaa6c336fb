"""``ledger verify``, ``ledger export beancount|hledger`` and ``ledger import FILE.jsonl``."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import with_appcontext

from ledger.cli.common import Command, fail, transactional
from ledger.core.errors import LedgerError
from ledger.core.money import MoneyError
from ledger.journal.export import FORMATS, write_file, write_stdout
from ledger.journal.importer import import_lines, open_journal, refresh_statistics
from ledger.journal.periods import get_books
from ledger.partnership.integrity import full_verify
from ledger.practices.service import get_partnership
from ledger.runtime.database import get_session


@click.command("verify", cls=Command, help="Check every invariant of the ledger and the hash chain; exit 0 only when all hold.")
@with_appcontext
def verify_command():
    report = full_verify(get_session())
    if report.ok:
        click.echo(f"ok: {report.entries} entries, head {report.head}")
        return
    for problem in report.problems:
        click.echo(f"BREACH: {problem}", err=True)
    click.echo(f"{len(report.problems)} problem(s) in {report.entries} entries", err=True)
    sys.exit(1)


@click.command("export", cls=Command, help="Write the whole ledger as a Beancount or hledger journal (to stdout, or --out FILE).")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(sorted(FORMATS)))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="write to FILE instead of stdout ('-': stdout)")
@with_appcontext
def export_command(format_name: str, out: str | None) -> None:
    """Reads in one snapshot: at ``REPEATABLE READ`` on PostgreSQL, so entries written meanwhile
    cannot make the stream and the trial balance disagree (SQLite's transaction is one already)."""
    session = get_session()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        chunks = FORMATS[format_name](session, title=get_partnership(session).name)
        if out and out != "-":
            write_file(out, chunks)
        else:
            write_stdout(chunks)
    except LedgerError as exc:
        fail(exc.detail)
    except MoneyError as exc:
        # Only a row written around the posting service can carry such an amount.
        fail(f"a stored amount is not exact for its commodity ({exc}); the ledger needs repair")
    except BrokenPipeError:
        # The reader went away (`ledger export hledger | head`): nothing to report, but point
        # stdout at /dev/null so Python's final flush does not print a second traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        fail(f"cannot write {out or 'standard output'}: {exc.strerror or exc}")
    # Nothing to commit: the app context's teardown rolls the read-only transaction back.


@click.command("import", cls=Command, help="Bulk-import journal entries from FILE (JSON lines); re-runs skip known keys.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@transactional
def import_command(session, path):
    currency = get_books(session).currency
    with open_journal(path) as fh, click.progressbar(
        length=os.path.getsize(path), label="importing", file=sys.stderr
    ) as bar:
        result = import_lines(session, fh, currency, progress=bar.update)
    if result.imported:
        refresh_statistics(session)
    click.echo(f"imported {result.imported} entries ({result.postings} postings), "
               f"skipped {result.skipped} already in the ledger")
