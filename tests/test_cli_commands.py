"""What every ``ledger`` command shares, whoever runs it: a database it cannot use, or a migration
it cannot find, is a message and exit status 1, never a traceback; and the console script runs
each command without building the API and the web app (``cli.LedgerGroup``)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import click
import pytest

from ledger import cli
from ledger.cli.common import Command, Group

#: One invocation of every command and subcommand, with arguments it accepts.
INVOCATIONS = [
    ["db", "current"], ["db", "upgrade", "no-such-revision"], ["db", "downgrade", "no-such-revision"],
    ["init", "{charter}"], ["user", "add", "a@example.com", "--role", "treasurer"],
    ["token", "create", "a@example.com"], ["token", "revoke", "a@example.com"],
    ["verify"], ["export", "beancount"], ["export", "hledger"], ["import", "{journal}"],
    ["close", "2026-01"], ["statement", "ana", "2026-01"], ["export-ocf", "{out}"],
    ["notify", "remind"], ["notify", "send"], ["demo"], ["appender", "--socket", "{socket}"],
]
#: ``demo`` migrates the database itself: an unmigrated one is what it starts from.
UNMIGRATED = [args for args in INVOCATIONS if args != ["demo"]]


def _all_commands():
    for name in cli.COMMANDS:
        found = cli.command(name)
        yield found
        if isinstance(found, click.Group):
            yield from found.commands.values()


def test_every_command_is_invoked_above_by_this_module():
    named = {tuple(args[:2]) if args[0] in ("db", "user", "token", "notify") else (args[0],) for args in INVOCATIONS}
    every = {(name, sub) if isinstance(found, click.Group) else (name,)
             for name in cli.COMMANDS for found in [cli.command(name)]
             for sub in (found.commands if isinstance(found, click.Group) else [None])}
    assert every <= named


def test_every_command_and_group_has_the_shared_error_boundary():
    for found in _all_commands():
        assert isinstance(found, Group if isinstance(found, click.Group) else Command), found.name


def _args(args, tmp_path, charter_file):
    journal = tmp_path / "journal.jsonl"
    journal.write_text("")
    return [a.format(charter=charter_file, journal=journal, out=tmp_path / "ocf", socket=tmp_path / "a.sock")
            for a in args]


@pytest.mark.parametrize("args", UNMIGRATED, ids=" ".join)
def test_a_database_that_is_not_migrated_is_a_message_and_exit_1(args, make_app, fresh_db_url, tmp_path,
                                                                   charter_file):
    runner = make_app(fresh_db_url).test_cli_runner()
    result = runner.invoke(args=_args(args, tmp_path, charter_file), input="pw-long-enough\n")
    if args == ["db", "current"]:
        assert result.exit_code == 0, result.output  # an empty database has no revision: nothing to say
        return
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("error: ") or "\nerror: " in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["verify"], ["notify", "send"], ["statement", "ana", "2026-01"],
                                  ["db", "upgrade"], ["db", "current"], ["demo"], ["appender", "--socket", "a.sock"]],
                         ids=" ".join)
def test_a_database_that_cannot_be_reached_is_a_message_and_exit_1(args, make_app, tmp_path):
    url = ("postgresql+psycopg://nobody@127.0.0.1:1/none" if "postgresql" in os.environ.get("TEST_ENGINE", "")
           else f"sqlite:///{tmp_path / 'no-such-folder' / 'ledger.db'}")
    runner = make_app(url).test_cli_runner()
    result = runner.invoke(args=args)
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "error: " in result.output and "Traceback" not in result.output


def test_the_console_script_runs_a_command_without_the_api_and_the_web_app(db_url):
    """The import command's process (and every other command's) loads neither the JSON API nor
    the web app: they are most of what starting the full app costs, and no command serves. Nor
    Alembic, which only the commands that migrate use, nor on SQLite the PostgreSQL driver."""
    code = ("import sys; from ledger import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['ledger', 'api'], ['ledger', 'web'])"
            " or m.split('.')[0] in ('alembic', 'psycopg')))\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, "verify"], env={**os.environ, "DATABASE_URL": db_url},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 0 entries"), done.stdout
    loaded = ast.literal_eval(done.stdout.strip().splitlines()[-1])  # the list the child printed
    expected = [m for m in loaded if m.split(".")[0] == "psycopg"] if db_url.startswith("postgresql") else []
    assert loaded == expected, loaded


def test_the_console_script_lists_every_command_and_flasks_own():
    done = subprocess.run([sys.executable, "-c", "from ledger import main; main()", "--help"],
                          env={**os.environ, "DATABASE_URL": "sqlite://"}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed >= set(cli.COMMANDS) | {"run", "routes", "shell"}


@pytest.mark.parametrize("args", [["export-ocf", "{file}/ocf"], ["export", "beancount", "--out", "{file}/x.beancount"]],
                         ids=" ".join)
def test_a_path_that_cannot_be_written_is_a_message_and_exit_1(founded, runner, tmp_path, args):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = runner.invoke(args=[a.format(file=a_file) for a in args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "error: cannot" in result.output and str(a_file) in result.output
