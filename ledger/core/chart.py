"""The chart of accounts the partnership's services post to (pure names, no database).

| account | commodity | what it holds |
|---|---|---|
| ``Assets:Cash`` | USD | the partnership's bank |
| ``Assets:Receivable:<Client>`` | USD | invoiced, not yet paid |
| ``Income:Practice:<Practice>`` | USD | invoices (credit) until the period's close moves them to capital |
| ``Expenses:Direct:<Practice>`` | USD | direct costs (subcontracts, expenses) until the close |
| ``Expenses:Overhead:<Category>`` | USD | shared overhead until the close |
| ``Equity:Pool`` | USD | clearing account for the common pool during a close |
| ``Equity:Capital:<Partner>`` | USD | each partner's capital account (credit balance = owed to the partner) |
| ``Liabilities:Buyout:<Partner>`` | USD | a retired partner's buyout, paid in installments |
| ``Equity:Units:Authorized`` | UNITS | the issuer side of every unit |
| ``Equity:Units:Unvested:<Partner>`` / ``Equity:Units:Vested:<Partner>`` | UNITS | a partner's units |

Codes become name components by capitalising their first letter (``ana`` → ``Ana``).
"""

from __future__ import annotations

from functools import cache

from ledger.core.entries import component

CASH = "Assets:Cash"
POOL = "Equity:Pool"
UNITS_AUTHORIZED = "Equity:Units:Authorized"


@cache  # names are asked for once per posting on the hot paths
def capital(partner: str) -> str:
    return f"Equity:Capital:{component(partner)}"


@cache  # names are asked for once per posting on the hot paths
def receivable(client: str) -> str:
    return f"Assets:Receivable:{component(client)}"


@cache  # names are asked for once per posting on the hot paths
def revenue(practice: str) -> str:
    return f"Income:Practice:{component(practice)}"


@cache  # names are asked for once per posting on the hot paths
def direct_costs(practice: str) -> str:
    return f"Expenses:Direct:{component(practice)}"


@cache  # names are asked for once per posting on the hot paths
def overhead(category: str) -> str:
    return f"Expenses:Overhead:{component(category)}"


@cache  # names are asked for once per posting on the hot paths
def buyout(partner: str) -> str:
    return f"Liabilities:Buyout:{component(partner)}"


@cache  # names are asked for once per posting on the hot paths
def units_unvested(partner: str) -> str:
    return f"Equity:Units:Unvested:{component(partner)}"


@cache  # names are asked for once per posting on the hot paths
def units_vested(partner: str) -> str:
    return f"Equity:Units:Vested:{component(partner)}"
