"""``ledger user add`` and ``ledger token create|revoke``: who may sign in and call the API."""

from __future__ import annotations

import sys

import click

from ledger.auth.service import add_user_or_set_password, create_token, get_user, revoke_tokens
from ledger.cli.common import Group, transactional


@click.group("user", cls=Group, help="Users of the web app and API.")
def user_group():
    pass


@user_group.command("add", help="Add a user with a role; --password-stdin reads a password.")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "treasurer", "partner"]), required=True)
@click.option("--partner", "partner_code", help="the partner code a partner user acts for")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@transactional
def user_add(session, email, role, partner_code, password_stdin):
    password = _password_from_stdin() if password_stdin else None
    user, created = add_user_or_set_password(session, email, role, partner_code, password)
    click.echo(f"user {user.email} ({user.role}) added" if created else f"password set for {user.email}")


def _password_from_stdin() -> str:
    """The first line of standard input as UTF-8 whatever the locale says, a byte that is not
    kept as a lone surrogate for the service to refuse (``auth.service.password_problem``)."""
    return sys.stdin.buffer.readline().rstrip(b"\r\n").decode("utf-8", "surrogateescape")


@click.group("token", cls=Group, help="API tokens.")
def token_group():
    pass


@token_group.command("create", help="Print a new API token for EMAIL (as the last line).")
@click.argument("email")
@transactional
def token_create(session, email):
    token = create_token(session, get_user(session, email))
    click.echo(f"token for {email} (shown once; store it now):")
    click.echo(token)


@token_group.command("revoke", help="Revoke every API token of EMAIL.")
@click.argument("email")
@transactional
def token_revoke(session, email):
    click.echo(f"{revoke_tokens(session, get_user(session, email))} token(s) revoked")
