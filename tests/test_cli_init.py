"""``ledger init``, ``ledger user add``, ``ledger token create`` through the CLI."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from charters import WORKED_CHARTER

from ledger.auth.models import ApiToken, User
from ledger.auth.service import Caller, caller_for_token, get_user, hash_token
from ledger.core import chart
from ledger.journal.balances import balance
from ledger.practices.models import Ownership, Partner, Practice
from ledger.runtime.database import get_session


def test_init_founds_partners_practices_users_and_units(founded):
    with founded.app_context():
        s = get_session()
        assert [p.code for p in s.scalars(sa.select(Partner).order_by(Partner.code))] == ["ana", "ben", "chen"]
        voice = s.scalar(sa.select(Practice).where(Practice.code == "voice"))
        assert {o.partner.code: o.share for o in voice.ownerships} == {"ben": Decimal("0.7"), "chen": Decimal("0.3")}
        assert s.scalar(sa.select(sa.func.count()).select_from(User).where(User.role == "partner")) == 3
        assert balance(s, chart.units_vested("ana"), "UNITS") == Decimal("-500")
        assert balance(s, chart.UNITS_AUTHORIZED, "UNITS") == Decimal("1000")


def test_init_twice_is_refused_and_changes_nothing(founded, runner, charter_file):
    result = runner.invoke(args=["init", str(charter_file)])
    assert result.exit_code != 0
    assert "already founded" in result.output
    with founded.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Partner)) == 3


@pytest.mark.parametrize("change,path", [
    (('ana = "100%"', 'ana = "90%"'), "practices[0].owners"),
    (('owners = { ana = "100%" }', 'owners = { zed = "100%" }'), "practices[0].owners.zed"),
    (('origination = "10%"', 'origination = "ten"'), "policy.origination"),
    (('code = "chen"', 'code = "ben"'), "partners[2].code"),
    (('units = 500', 'units = 0'), "partners[0].units"),
    (('period = "month"', 'period = "week"'), "partnership.period"),
    (('starts_on = 2026-01-01', 'starts_on = "soon"'), "partnership.starts_on"),
    (('"rapport"]', '"rapport", "luck"]'), "firms[0].vetted[6]"),
    (('units = 250\n', 'units = 250\ngrant = { units = 10, start = 2026-01-01, cliff_months = 1, months = 2 }\n'), "partners[1].units"),
])
def test_a_bad_charter_is_refused_whole_naming_the_path(app, runner, tmp_path, change, path):
    bad = tmp_path / "bad.toml"
    old, new = change
    assert old in WORKED_CHARTER
    bad.write_text(WORKED_CHARTER.replace(old, new, 1))
    result = runner.invoke(args=["init", str(bad)])
    assert result.exit_code == 1
    assert path + ":" in result.output
    with app.app_context():
        s = get_session()
        assert s.scalar(sa.select(sa.func.count()).select_from(Partner)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Ownership)) == 0


def test_every_problem_is_listed_at_once(app, runner, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(WORKED_CHARTER.replace('"100%"', '"90%"').replace('"10%"', '"x"').replace('code = "chen"', 'code = "ben"'))
    result = runner.invoke(args=["init", str(bad)])
    assert result.exit_code == 1
    for path in ("practices[0].owners:", "policy.origination:", "partners[2].code:"):
        assert path in result.output


def test_init_refuses_invalid_toml_and_a_missing_file(app, runner, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[partnership\nname=")
    result = runner.invoke(args=["init", str(bad)])
    assert result.exit_code == 1 and "not valid TOML" in result.output
    result = runner.invoke(args=["init", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1 and "no charter" in result.output


def test_init_with_a_charter_that_is_not_utf8_says_so_and_writes_nothing(runner, app, tmp_path, charter_file):
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(charter_file.read_text(encoding="utf-8").replace('name = "', 'name = "Caf\u00e9 ', 1)
                      .encode("latin-1"))
    result = runner.invoke(args=["init", str(latin)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "UTF-8" in result.output and str(latin) in result.output
    with app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Partner)) == 0


def test_init_on_an_unmigrated_database_says_so(make_app, fresh_db_url, charter_file):
    runner = make_app(fresh_db_url).test_cli_runner()
    result = runner.invoke(args=["init", str(charter_file)])
    assert result.exit_code == 1
    assert "ledger db upgrade" in result.output


def test_user_add_with_password_and_token_create(founded, runner):
    result = runner.invoke(args=["user", "add", "tre@example.com", "--role", "treasurer", "--password-stdin"],
                           input="s3cret-pass\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["token", "create", "tre@example.com"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with founded.app_context():
        s = get_session()
        user = get_user(s, "tre@example.com")
        assert caller_for_token(s, token) == Caller(user.id, "treasurer", None, None)
        assert caller_for_token(s, token + "x") is None
        # Only the hash is stored.
        assert s.scalar(sa.select(ApiToken.token_hash)) == hash_token(token)
        assert s.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.token_hash == token)) == 0


def test_user_add_sets_a_partner_password_made_by_init(founded, runner):
    result = runner.invoke(args=["user", "add", "ana@example.com", "--role", "partner", "--partner", "ana",
                                 "--password-stdin"], input="ana-password\n")
    assert result.exit_code == 0, result.output
    from ledger.auth.service import check_password, get_user
    with founded.app_context():
        assert check_password(get_user(get_session(), "ana@example.com"), "ana-password")


@pytest.mark.parametrize("email,role,partner", [("new@example.com", "treasurer", None),
                                                  ("ana@example.com", "partner", "ana")])  # added / password set
def test_a_password_that_is_not_text_is_refused_and_never_matches(founded, email, role, partner):
    """A password read from bytes that are not UTF-8 (``--password-stdin``) holds a lone surrogate,
    which no hasher can encode: refused by the field, both when a user is added and when a
    password is set; and checking one against a stored hash is a mismatch, not a crash."""
    from ledger.auth.service import add_user_or_set_password, check_password, get_user
    from ledger.core.errors import ValidationError
    with founded.app_context():
        s = get_session()
        with pytest.raises(ValidationError) as caught:
            add_user_or_set_password(s, email, role, partner, "pass\udcffword-long")
        assert "password" in caught.value.errors
        s.rollback()
        add_user_or_set_password(s, email, role, partner, "a-good-password")
        assert not check_password(get_user(s, email), "pass\udcffword-long")
        assert check_password(get_user(s, email), "a-good-password")


def test_user_add_with_a_password_that_is_not_utf8_says_so(founded, runner):
    result = runner.invoke(args=["user", "add", "z@example.com", "--role", "treasurer", "--password-stdin"],
                           input=b"pass\xffword-long\n")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "password" in result.output


@pytest.mark.parametrize("args", [
    ["user", "add", "not-an-email", "--role", "treasurer"],
    ["user", "add", "x@example.com", "--role", "partner"],
    ["user", "add", "x@example.com", "--role", "partner", "--partner", "nobody"],
    ["user", "add", "x@example.com", "--role", "boss"],
    ["token", "create", "ghost@example.com"],
])
def test_bad_user_and_token_commands_fail_cleanly(founded, runner, args):
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
