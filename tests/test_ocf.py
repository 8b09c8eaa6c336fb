"""The OCF 1.2.0 export validates against the OCF JSON schemas and says what the vesting rules say.

The schemas are read from the shared folder beside the repository (``../shared/ocf-1.2.0``); the
tests that need them are skipped when it is absent.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from pathlib import Path

import pytest
from charters import DANA, with_partners
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.vesting import Acceleration, GrantTerms, Pause, add_months, schedule, vested
from ledger.equity import ocf
from ledger.runtime.database import get_session

D = dt.date
SHARED = Path(__file__).parent.parent.parent / "shared"  # beside the repository
SCHEMA_DIR = SHARED / "ocf-1.2.0" / "schema"
BASE_ID = "https://schema.opencaptablecoalition.com/v/1.2.0/files/"
FILE_SCHEMAS = {
    "OCF_MANIFEST_FILE": "OCFManifestFile", "OCF_STAKEHOLDERS_FILE": "StakeholdersFile",
    "OCF_STOCK_CLASSES_FILE": "StockClassesFile", "OCF_VESTING_TERMS_FILE": "VestingTermsFile",
    "OCF_TRANSACTIONS_FILE": "TransactionsFile",
}
needs_schemas = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason=f"the OCF schemas are not at {SCHEMA_DIR}")
GENERATED = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def validate():
    """``validate(doc)`` → the list of schema errors for an OCF file, by its ``file_type``."""
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"the OCF schemas are not at {SCHEMA_DIR}")
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource

    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.schema.json")):
        resource = Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))
        resources.append((resource.id(), resource))
    registry = Registry().with_resources(resources)

    def check(doc: dict) -> list[str]:
        schema = registry.contents(BASE_ID + FILE_SCHEMAS[doc["file_type"]] + ".schema.json")
        validator = Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]

    return check


def holder(code, *grants, retired_on=None):
    return ocf.Holder(code, code.title(), f"{code}@example.com",
                      tuple(ocf.IssuedGrant(i, t, t.start) for i, t in grants), retired_on)


FOUNDER = GrantTerms(units=500, start=D(2026, 1, 1))
STANDARD = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48, every=1)
QUARTERLY = GrantTerms(units=1000, start=D(2026, 1, 31), cliff_months=6, months=24, every=3)
PAUSED = GrantTerms(units=1200, start=D(2026, 2, 1), cliff_months=3, months=12, every=1,
                    pauses=(Pause(D(2026, 6, 1), D(2026, 6, 30)),),
                    accelerations=(Acceleration(D(2026, 9, 15), 150, "Led the data-centre move"),))
RETIRING = GrantTerms(units=600, start=D(2026, 1, 1), cliff_months=0, months=6, every=1, leave_on=D(2026, 3, 31))


def package(as_of=D(2026, 12, 31)):
    holders = [holder("ana", (1, FOUNDER)), holder("dana", (2, STANDARD)), holder("eve", (3, QUARTERLY)),
               holder("fay", (4, PAUSED)), holder("gus", (5, RETIRING), retired_on=D(2026, 3, 31))]
    return ocf.build_package(issuer_name="Harbor IT Partners", formation_date=D(2026, 1, 1), currency="USD",
                             holders=holders, as_of=as_of, generated_at=GENERATED)


@needs_schemas
def test_every_file_of_the_package_is_valid_ocf(validate):
    files = package()
    assert set(files) == {ocf.MANIFEST, ocf.STAKEHOLDERS, ocf.STOCK_CLASSES, ocf.VESTING_TERMS, ocf.TRANSACTIONS}
    for name, doc in files.items():
        assert validate(doc) == [], name


@needs_schemas
def test_the_validator_catches_what_ocf_refuses(validate):
    files = package()
    broken = json.loads(json.dumps(files[ocf.TRANSACTIONS]))
    broken["items"][0]["quantity"] = 500  # OCF numbers are strings
    assert validate(broken)
    manifest = dict(files[ocf.MANIFEST], ocf_version="1.1.0")
    assert validate(manifest)


def test_the_manifest_lists_each_file_with_the_md5_of_its_bytes(tmp_path):
    import hashlib

    files = package()
    manifest = files[ocf.MANIFEST]
    assert manifest["as_of"] == "2026-12-31" and manifest["generated_at"] == "2026-07-01T12:00:00+00:00"
    paths = ocf.write_package(files, tmp_path / "ocf")
    assert sorted(p.name for p in paths) == sorted(files)
    for key, name in (("stakeholders_files", ocf.STAKEHOLDERS), ("transactions_files", ocf.TRANSACTIONS),
                      ("vesting_terms_files", ocf.VESTING_TERMS), ("stock_classes_files", ocf.STOCK_CLASSES)):
        [ref] = manifest[key]
        assert ref["filepath"] == f"./{name}"
        assert ref["md5"] == hashlib.md5((tmp_path / "ocf" / name).read_bytes(), usedforsecurity=False).hexdigest()


def test_each_kind_of_grant_maps_as_documented():
    files = package()
    issuances = {tx["stakeholder_id"]: tx for tx in files[ocf.TRANSACTIONS]["items"]
                 if tx["object_type"] == "TX_STOCK_ISSUANCE"}
    assert issuances["partner-ana"]["issuance_type"] == "FOUNDERS_STOCK"
    assert "vesting_terms_id" not in issuances["partner-ana"] and "vestings" not in issuances["partner-ana"]
    assert issuances["partner-dana"]["vesting_terms_id"] == "units-48m-cliff-12m-every-1m"
    assert issuances["partner-eve"]["vesting_terms_id"] == "units-24m-cliff-6m-every-3m"
    fay = issuances["partner-fay"]
    assert [(v["date"], int(v["amount"])) for v in fay["vestings"]] == [
        (e.date.isoformat(), e.units) for e in schedule(PAUSED)]
    assert sum(int(v["amount"]) for v in fay["vestings"]) == 1200
    assert any("Led the data-centre move" in c for c in fay["comments"])
    [cancel] = [tx for tx in files[ocf.TRANSACTIONS]["items"] if tx["object_type"] == "TX_STOCK_CANCELLATION"]
    assert (cancel["security_id"], cancel["date"], cancel["quantity"]) == ("units-gus-5", "2026-03-31", "600")
    assert "400 unvested units forfeited, 200 vested units redeemed" in cancel["reason_text"]
    starts = {tx["security_id"] for tx in files[ocf.TRANSACTIONS]["items"] if tx["object_type"] == "TX_VESTING_START"}
    assert starts == {"units-dana-2", "units-eve-3", "units-gus-5"}
    assert files[ocf.STOCK_CLASSES]["items"][0]["initial_shares_authorized"] == str(500 + 4800 + 1000 + 1200 + 600)


def test_transactions_after_as_of_are_left_out():
    files = package(as_of=D(2026, 1, 15))
    kinds = {(tx["object_type"], tx["security_id"]) for tx in files[ocf.TRANSACTIONS]["items"]}
    assert ("TX_STOCK_CANCELLATION", "units-gus-5") not in kinds
    assert ("TX_STOCK_ISSUANCE", "units-ana-1") in kinds
    assert ("TX_STOCK_ISSUANCE", "units-eve-3") not in kinds  # starts on 2026-01-31


def ocf_schedule(terms_doc: dict, units: int, start: dt.date) -> list[tuple[dt.date, int]]:
    """Read our OCF vesting terms back: walk the conditions from the vesting start, each relative
    tranche ``length`` months after the previous, day clamped as the start's; cumulative portions,
    rounded down (``CUMULATIVE_ROUND_DOWN``)."""
    from fractions import Fraction

    conditions = {c["id"]: c for c in terms_doc["vesting_conditions"]}
    out, months, portion, vested_so_far = [], 0, Fraction(0), 0
    current = conditions["vesting-start"]
    while current["next_condition_ids"]:
        current = conditions[current["next_condition_ids"][0]]
        period = current["trigger"]["period"]
        assert period["day_of_month"] == ocf.DAY_OF_MONTH
        for _ in range(period["occurrences"]):
            months += period["length"]
            portion += Fraction(int(current["portion"]["numerator"]), int(current["portion"]["denominator"]))
            total = int(units * portion)
            if total > vested_so_far:
                out.append((add_months(start, months), total - vested_so_far))
                vested_so_far = total
    return out


@st.composite
def regular_grants(draw):
    every = draw(st.sampled_from([1, 2, 3, 6, 12]))
    months = every * draw(st.integers(1, 8))
    cliff = every * draw(st.integers(0, months // every))
    year, month = draw(st.integers(2020, 2040)), draw(st.integers(1, 12))
    day = min(draw(st.sampled_from([1, 15, 28, 29, 30, 31])), calendar.monthrange(year, month)[1])
    start = D(year, month, day)
    return GrantTerms(units=draw(st.integers(1, 100000)), start=start, cliff_months=cliff, months=months, every=every)


@given(regular_grants())
def test_our_vesting_terms_read_back_as_the_contract_schedule(terms):
    doc = ocf.vesting_terms(terms)
    assert ocf_schedule(doc, terms.units, terms.start) == [(e.date, e.units) for e in schedule(terms)]


# --- from the database -------------------------------------------------------------------------


@needs_schemas
def test_the_partnerships_package_is_valid_ocf(app, runner, tmp_path, validate):
    path = tmp_path / "charter.toml"
    path.write_text(with_partners(DANA))
    assert runner.invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        files = ocf.export_package(get_session(), D(2026, 6, 30), generated_at=GENERATED)
    for name, doc in files.items():
        assert validate(doc) == [], name
    assert files[ocf.MANIFEST]["issuer"]["legal_name"] == "Worked Example Partners"
    holders = [s["issuer_assigned_id"] for s in files[ocf.STAKEHOLDERS]["items"]]
    assert holders == ["ana", "ben", "chen", "dana"]
    issuances = [tx for tx in files[ocf.TRANSACTIONS]["items"] if tx["object_type"] == "TX_STOCK_ISSUANCE"]
    assert sorted((tx["stakeholder_id"], tx["quantity"]) for tx in issuances) == [
        ("partner-ana", "500"), ("partner-ben", "250"), ("partner-chen", "250"), ("partner-dana", "1200")]
    [terms] = files[ocf.VESTING_TERMS]["items"]
    assert ocf_schedule(terms, 1200, D(2026, 1, 1))[:2] == [(D(2026, 4, 1), 300), (D(2026, 5, 1), 100)]
    assert vested(GrantTerms(units=1200, start=D(2026, 1, 1), cliff_months=3, months=12), D(2026, 5, 1)) == 400


def test_shared_schemas_are_not_vendored_into_the_project():
    # The schemas stay in the shared folder; the project only reads them.
    assert not list(Path(__file__).parent.rglob("*.schema.json"))


def found_with_dana(app, runner, tmp_path) -> None:
    path = tmp_path / "charter.toml"
    path.write_text(with_partners(DANA))
    assert runner.invoke(args=["init", str(path)]).exit_code == 0


@needs_schemas
def test_stored_pauses_and_accelerations_export_as_explicit_vestings(app, runner, tmp_path, validate):
    from ledger.equity import events
    from ledger.equity.service import grant_terms

    found_with_dana(app, runner, tmp_path)
    with app.app_context():
        s = get_session()
        events.add_pause(s, "dana", D(2026, 2, 1), D(2026, 2, 10), "parental leave")
        events.add_acceleration(s, "dana", D(2026, 6, 15), 150, "Led the data-centre move")
        [terms] = grant_terms(s, "dana")
        files = ocf.export_package(s, D(2026, 12, 31), generated_at=GENERATED)
    for name, doc in files.items():
        assert validate(doc) == [], name
    assert files[ocf.VESTING_TERMS]["items"] == []  # dana's is the only vesting grant, and it is irregular
    [dana] = [tx for tx in files[ocf.TRANSACTIONS]["items"]
              if tx["object_type"] == "TX_STOCK_ISSUANCE" and tx["stakeholder_id"] == "partner-dana"]
    assert "vesting_terms_id" not in dana
    assert [(v["date"], int(v["amount"])) for v in dana["vestings"]] == [
        (e.date.isoformat(), e.units) for e in schedule(terms)]
    assert dana["vestings"][:2] == [{"date": "2026-04-11", "amount": "300"}, {"date": "2026-05-11", "amount": "100"}]
    assert sum(int(v["amount"]) for v in dana["vestings"]) == 1200
    assert any("2026-02-01 to 2026-02-10" in c for c in dana["comments"])
    assert any("Led the data-centre move" in c for c in dana["comments"])


@needs_schemas
def test_the_export_ocf_command_writes_a_valid_package(app, runner, tmp_path, validate):
    import hashlib

    found_with_dana(app, runner, tmp_path)
    out = tmp_path / "ocf"
    result = runner.invoke(args=["export-ocf", str(out), "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"wrote 5 OCF files to {out}"
    written = {p.name: p for p in out.iterdir()}
    assert sorted(written) == sorted([ocf.MANIFEST, ocf.STAKEHOLDERS, ocf.STOCK_CLASSES, ocf.VESTING_TERMS,
                                      ocf.TRANSACTIONS])
    docs = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in written.items()}
    for name, doc in docs.items():
        assert validate(doc) == [], name
    manifest = docs[ocf.MANIFEST]
    assert (manifest["as_of"], manifest["issuer"]["country_of_formation"]) == ("2026-06-30", "US")
    [ref] = manifest["transactions_files"]
    assert ref["md5"] == hashlib.md5(written[ocf.TRANSACTIONS].read_bytes(), usedforsecurity=False).hexdigest()
    stakeholders = [s["issuer_assigned_id"] for s in docs[ocf.STAKEHOLDERS]["items"]]
    assert stakeholders == ["ana", "ben", "chen", "dana"]


def test_the_export_ocf_command_refuses_bad_input(app, runner, tmp_path):
    unfounded = runner.invoke(args=["export-ocf", str(tmp_path / "a")])
    assert unfounded.exit_code == 1 and "not founded" in unfounded.output
    assert not (tmp_path / "a").exists()
    found_with_dana(app, runner, tmp_path)
    bad = runner.invoke(args=["export-ocf", str(tmp_path / "b"), "--country", "USA"])
    assert bad.exit_code == 1 and "two-letter" in bad.output
    assert runner.invoke(args=["export-ocf", str(tmp_path / "c"), "--as-of", "June"]).exit_code == 2
