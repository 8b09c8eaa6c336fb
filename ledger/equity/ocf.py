"""Export of the partnership's units as an Open Cap Table Format (OCF) 1.2.0 package.

The package is a set of JSON files, returned as ``{file name: document}``:

| file | holds |
|---|---|
| ``Manifest.ocf.json`` | the issuer (the partnership), ``as_of``, and each other file with its MD5 |
| ``Stakeholders.ocf.json`` | one individual stakeholder per partner (``id`` ``partner-<code>``) |
| ``StockClasses.ocf.json`` | one class, ``Partnership units`` (common, one vote a unit) |
| ``VestingTerms.ocf.json`` | one terms object per distinct grant shape |
| ``Transactions.ocf.json`` | issuances, vesting starts, and the cancellation of a retiree's units |

How a grant maps:
- a founder's units: a ``TX_STOCK_ISSUANCE`` of type ``FOUNDERS_STOCK`` with no vesting (OCF: fully
  vested on issuance);
- a regular grant (no pauses or accelerations, cliff and length multiples of the cadence): an
  issuance referring to vesting terms (a ``VESTING_START_DATE`` condition, a cliff condition of
  ``cliff/months``, then ``(months − cliff)/every`` relative tranches of ``every/months`` each,
  day of month ``VESTING_START_DAY_OR_LAST_DAY_OF_MONTH``, ``CUMULATIVE_ROUND_DOWN``: exactly the
  contract's formula), plus a ``TX_VESTING_START`` on the grant's start;
- any other grant (pauses shift it, accelerations reshape it, the cadence does not divide it): the
  issuance lists explicit ``vestings`` (date, amount) from ``vesting.schedule``, and its comments
  record the pauses and accelerations with their reasons;
- a retired partner: a ``TX_STOCK_CANCELLATION`` of the whole security on the last day (unvested
  units forfeited, vested units redeemed; the buyout itself is in the ledger).

``build_package`` is pure; ``export_package`` reads the database; ``dumps`` is the byte form the
manifest's MD5s are computed over (``write_package`` writes exactly those bytes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import vesting as V
from ledger.db import clock_of
from ledger.equity.service import grants_with_terms
from ledger.practices.models import Partner
from ledger.practices.service import get_partnership

OCF_VERSION = "1.2.0"
STOCK_CLASS_ID = "partnership-units"
MANIFEST = "Manifest.ocf.json"
STAKEHOLDERS = "Stakeholders.ocf.json"
STOCK_CLASSES = "StockClasses.ocf.json"
VESTING_TERMS = "VestingTerms.ocf.json"
TRANSACTIONS = "Transactions.ocf.json"
DAY_OF_MONTH = "VESTING_START_DAY_OR_LAST_DAY_OF_MONTH"


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    """One grant as the export sees it: the grant's id, its terms, and the date it was issued."""

    id: int
    terms: V.GrantTerms
    issued_on: dt.date


@dataclass(frozen=True, slots=True)
class Holder:
    """A partner and their grants (oldest first)."""

    code: str
    name: str
    email: str
    grants: tuple[IssuedGrant, ...]
    retired_on: dt.date | None = None


def dumps(doc: dict) -> str:
    """The file's text: sorted keys, two-space indent, a final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _md5(doc: dict) -> str:
    return hashlib.md5(dumps(doc).encode("utf-8"), usedforsecurity=False).hexdigest()


def _cadence(every: int) -> str:
    return {1: "monthly", 3: "quarterly", 6: "semi-annually", 12: "annually"}.get(every, f"every {every} months")


def vesting_terms_id(terms: V.GrantTerms) -> str:
    return f"units-{terms.months}m-cliff-{terms.cliff_months}m-every-{terms.every}m"


def _relative(length: int, occurrences: int, to: str) -> dict:
    return {"type": "VESTING_SCHEDULE_RELATIVE", "relative_to_condition_id": to,
            "period": {"type": "MONTHS", "length": length, "occurrences": occurrences, "day_of_month": DAY_OF_MONTH}}


def vesting_terms(terms: V.GrantTerms) -> dict:
    """The OCF vesting terms of a regular grant (``vesting.is_regular``)."""
    months, cliff, every = terms.months, terms.cliff_months, terms.every
    conditions = [{"id": "vesting-start", "quantity": "0", "trigger": {"type": "VESTING_START_DATE"},
                   "next_condition_ids": []}]
    previous = conditions[0]
    if cliff:
        cond = {"id": "cliff", "description": f"{cliff}/{months} of the units after {cliff} months",
                "portion": {"numerator": str(cliff), "denominator": str(months)},
                "trigger": _relative(cliff, 1, "vesting-start"), "next_condition_ids": []}
        previous["next_condition_ids"].append(cond["id"])
        conditions.append(cond)
        previous = cond
    if months > cliff:
        cond = {"id": "tranches", "description": f"{every}/{months} of the units {_cadence(every)}",
                "portion": {"numerator": str(every), "denominator": str(months)},
                "trigger": _relative(every, (months - cliff) // every, previous["id"]), "next_condition_ids": []}
        previous["next_condition_ids"].append(cond["id"])
        conditions.append(cond)
    return {
        "object_type": "VESTING_TERMS",
        "id": vesting_terms_id(terms),
        "name": f"{months} months, {cliff}-month cliff, {_cadence(every)}",
        "description": (f"Nothing vests before {cliff} whole months from the start; then, after m whole months, "
                        f"floor(units × min({months}, floor(m/{every})×{every}) / {months}) units have vested "
                        f"(a month is complete on the same day of month, or the month's last day when shorter)."),
        "allocation_type": "CUMULATIVE_ROUND_DOWN",
        "vesting_conditions": conditions,
    }


def _irregular_comments(terms: V.GrantTerms) -> list[str]:
    notes = [f"Vesting terms: {terms.months} months, {terms.cliff_months}-month cliff, {_cadence(terms.every)}; "
             f"the vestings below are the resulting schedule."]
    for p in terms.pauses:
        end = p.end.isoformat() if p.end else "(open)"
        notes.append(f"Leave of absence {p.start.isoformat()} to {end}: vesting paused, later tranches shifted.")
    for a in terms.accelerations:
        notes.append(f"Acceleration on {a.date.isoformat()}: {a.quantity} units ({a.reason}).")
    return notes


def build_package(*, issuer_name: str, formation_date: dt.date, currency: str, holders: Sequence[Holder],
                  as_of: dt.date, generated_at: dt.datetime, country_of_formation: str = "US") -> dict[str, dict]:
    """The OCF files for ``holders``, as of ``as_of`` (transactions dated later are left out)."""
    stakeholders, terms_objects, transactions = [], {}, []
    granted = 0
    for h in holders:
        founder = any(g.terms.is_founder for g in h.grants)
        relationship = "OTHER" if h.retired_on else ("FOUNDER" if founder else "OTHER")
        stakeholders.append({
            "object_type": "STAKEHOLDER", "id": f"partner-{h.code}", "name": {"legal_name": h.name},
            "stakeholder_type": "INDIVIDUAL", "issuer_assigned_id": h.code, "current_relationship": relationship,
            "contact_info": {"emails": [{"email_type": "BUSINESS", "email_address": h.email}]},
            "comments": [f"Partner {h.code}" + (f", retired on {h.retired_on.isoformat()}" if h.retired_on else "")],
        })
        for g in h.grants:
            t = g.terms
            granted += t.units
            security = f"units-{h.code}-{g.id}"
            issuance = {
                "object_type": "TX_STOCK_ISSUANCE", "id": f"issuance-{h.code}-{g.id}", "security_id": security,
                "date": g.issued_on.isoformat(), "custom_id": f"PU-{g.id}", "stakeholder_id": f"partner-{h.code}",
                "stock_class_id": STOCK_CLASS_ID, "share_price": {"amount": "0", "currency": currency},
                "quantity": str(t.units), "security_law_exemptions": [], "stock_legend_ids": [],
                "consideration_text": "Partnership units for services to the partnership",
            }
            if t.is_founder:
                issuance["issuance_type"] = "FOUNDERS_STOCK"
            elif V.is_regular(t):
                vt = vesting_terms(t)
                terms_objects[vt["id"]] = vt
                issuance["vesting_terms_id"] = vt["id"]
                transactions.append({"object_type": "TX_VESTING_START", "id": f"vesting-start-{h.code}-{g.id}",
                                     "security_id": security, "date": t.start.isoformat(),
                                     "vesting_condition_id": "vesting-start"})
            else:
                events = V.schedule(t)
                issuance["vestings"] = ([{"date": e.date.isoformat(), "amount": str(e.units)} for e in events]
                                        or [{"date": t.start.isoformat(), "amount": "0"}])
                issuance["comments"] = _irregular_comments(t)
            transactions.append(issuance)
            if h.retired_on is not None:
                last = h.retired_on
                kept = V.vested(t, last)
                transactions.append({
                    "object_type": "TX_STOCK_CANCELLATION", "id": f"retirement-{h.code}-{g.id}",
                    "security_id": security, "date": last.isoformat(), "quantity": str(t.units),
                    "reason_text": (f"Partner retired on {last.isoformat()}: {t.units - kept} unvested units forfeited, "
                                    f"{kept} vested units redeemed (the buyout is booked in the ledger)"),
                })
    transactions = [tx for tx in transactions if tx["date"] <= as_of.isoformat()]
    transactions.sort(key=lambda tx: (tx["date"], tx["object_type"] != "TX_STOCK_ISSUANCE", tx["id"]))
    files = {
        STAKEHOLDERS: {"file_type": "OCF_STAKEHOLDERS_FILE", "items": stakeholders},
        STOCK_CLASSES: {"file_type": "OCF_STOCK_CLASSES_FILE", "items": [{
            "object_type": "STOCK_CLASS", "id": STOCK_CLASS_ID, "name": "Partnership units", "class_type": "COMMON",
            "default_id_prefix": "PU-", "initial_shares_authorized": str(granted), "votes_per_share": "1",
            "seniority": "1",
            "comments": ["Units are the partnership's equity: pool weights and unit-weighted votes count vested units."],
        }]},
        VESTING_TERMS: {"file_type": "OCF_VESTING_TERMS_FILE", "items": [terms_objects[k] for k in sorted(terms_objects)]},
        TRANSACTIONS: {"file_type": "OCF_TRANSACTIONS_FILE", "items": transactions},
    }

    def ref(name: str) -> list[dict]:
        return [{"filepath": f"./{name}", "md5": _md5(files[name])}]

    files[MANIFEST] = {
        "ocf_version": OCF_VERSION, "file_type": "OCF_MANIFEST_FILE",
        "issuer": {"object_type": "ISSUER", "id": "issuer", "legal_name": issuer_name,
                   "formation_date": formation_date.isoformat(), "country_of_formation": country_of_formation},
        "as_of": as_of.isoformat(), "generated_at": generated_at.isoformat(timespec="seconds"),
        "stakeholders_files": ref(STAKEHOLDERS), "stock_classes_files": ref(STOCK_CLASSES),
        "vesting_terms_files": ref(VESTING_TERMS), "transactions_files": ref(TRANSACTIONS),
        "stock_plans_files": [], "stock_legend_templates_files": [], "valuations_files": [],
    }
    return files


def export_package(session: Session, as_of: dt.date | None = None, *, generated_at: dt.datetime | None = None,
                   country_of_formation: str = "US") -> dict[str, dict]:
    """The partnership's OCF package from the database (``as_of`` defaults to today, UTC).

    The charter does not say where the partnership was formed; OCF requires a country, so it is a
    parameter (ISO 3166-1 alpha-2)."""
    now = generated_at or clock_of(session).now()
    ps = get_partnership(session)
    holders = []
    for p in session.scalars(select(Partner).order_by(Partner.code)):
        grants = tuple(IssuedGrant(g.id, t, max(g.start, p.joined_on)) for g, t in grants_with_terms(session, p))
        holders.append(Holder(p.code, p.name, p.email, grants, p.retired_on))
    return build_package(issuer_name=ps.name, formation_date=ps.starts_on, currency=ps.currency, holders=holders,
                         as_of=as_of or now.date(), generated_at=now, country_of_formation=country_of_formation)


def write_package(files: dict[str, dict], directory: str | Path) -> list[Path]:
    """Write the package's files into ``directory`` (created if missing); returns their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(files):
        path = out / name
        path.write_text(dumps(files[name]), encoding="utf-8")
        paths.append(path)
    return paths
