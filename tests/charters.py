"""Every charter the tests found a partnership with, in one place.

``WORKED_CHARTER`` is the worked example's partnership (docs/domain.md): ana 500 units, ben 250,
chen 250; practices msft (ana) and voice (ben 70%, chen 30%); firm bayside. The other
constants are ``[[partners]]`` blocks some tests add to it with ``with_partners(...)``.
"""

from __future__ import annotations

WORKED_CHARTER = """
[partnership]
name = "Worked Example Partners"
currency = "USD"
period = "month"
starts_on = 2026-01-01
open_books = false

[[partners]]
code = "ana"
name = "Ana"
email = "ana@example.com"
units = 500

[[partners]]
code = "ben"
name = "Ben"
email = "ben@example.com"
units = 250

[[partners]]
code = "chen"
name = "Chen"
email = "chen@example.com"
units = 250

[[practices]]
code = "msft"
name = "Microsoft 365"
owners = { ana = "100%" }

[[practices]]
code = "voice"
name = "Phone Systems"
owners = { ben = "70%", chen = "30%" }

[policy]
origination = "10%"
practice = "60%"
pool_basis = "vested_units"

[[firms]]
code = "bayside"
name = "Bayside Tech"
vetted = ["quality", "customer_commitment", "track_record", "reputation", "credit", "rapport"]
nsa_signed_on = 2025-06-01
nsa_expires_on = 2027-06-01
"""

#: dana: 1,200 units from 2026-01-01, a 3-month cliff, 12 months monthly → 300 on 2026-04-01, then
#: 100 on the 1st of each month to 1,200 on 2027-01-01.
DANA = """
[[partners]]
code = "dana"
name = "Dana"
email = "dana@example.com"
grant = { units = 1200, start = 2026-01-01, cliff_months = 3, months = 12, every = 1 }
"""

#: eve: 600 units from 2026-01-31, no cliff, 6 months monthly → 100 on Feb 28, Mar 31, Apr 30,
#: May 31, Jun 30, Jul 31 (month ends).
EVE = """
[[partners]]
code = "eve"
name = "Eve"
email = "eve@example.com"
grant = { units = 600, start = 2026-01-31, cliff_months = 0, months = 6, every = 1 }
"""

#: fay: 900 units from 2026-01-15, a 2-month cliff, 9 months vesting every 3.
FAY = """
[[partners]]
code = "fay"
name = "Fay"
email = "fay@example.com"
grant = { units = 900, start = 2026-01-15, cliff_months = 2, months = 9, every = 3 }
"""

#: The API's equity tests' two entrants (other grants than ``DANA`` and ``EVE`` above):
#: - dana: 4,800 units from 2026-01-01, a 12-month cliff, 48 months monthly (the README's example);
#: - eve: 1,200 units from 2026-01-01, a 3-month cliff, 12 months monthly (300 on 2026-04-01, then
#:   100 on the 1st of each month).
API_ENTRANTS = """
[[partners]]
code = "dana"
name = "Dana"
email = "dana@example.com"
grant = { units = 4800, start = 2026-01-01, cliff_months = 12, months = 48, every = 1 }

[[partners]]
code = "eve"
name = "Eve"
email = "eve@example.com"
grant = { units = 1200, start = 2026-01-01, cliff_months = 3, months = 12, every = 1 }
"""


def with_partners(*blocks: str) -> str:
    """The worked example with ``[[partners]]`` blocks added after its founders (before its practices)."""
    return WORKED_CHARTER.replace("[[practices]]", "".join(blocks) + "\n[[practices]]", 1)


def founder_partners(n: int, prefix: str = "f") -> str:
    """``n`` founders of ``100 + i`` units each (``f000``, ``f001``, ...), as ``[[partners]]`` blocks."""
    return "".join(f'\n[[partners]]\ncode = "{prefix}{i:03d}"\nname = "{prefix.upper()}{i}"\n'
                   f'email = "{prefix}{i}@example.com"\nunits = {100 + i}\n' for i in range(n))


def in_currency(code: str, charter: str = WORKED_CHARTER) -> str:
    """The charter in another ISO 4217 currency (``JPY`` has no minor unit, ``BHD`` three)."""
    return charter.replace('currency = "USD"', f'currency = "{code}"', 1)


#: A partnership of entrants only: nobody holds a vested unit until 2027 (CONTRACT §7: the pool is
#: split equally, and every active partner votes with weight 1).
UNVESTED = """
[partnership]
name = "Entrants Only"
currency = "USD"
period = "month"
starts_on = 2026-01-01

[[partners]]
code = "gia"
name = "Gia"
email = "gia@example.com"
grant = { units = 1000, start = 2026-01-01, cliff_months = 12, months = 48, every = 1 }

[[partners]]
code = "hal"
name = "Hal"
email = "hal@example.com"
grant = { units = 3000, start = 2026-01-01, cliff_months = 12, months = 48, every = 1 }

[[practices]]
code = "cloud"
name = "Cloud"
owners = { gia = "50%", hal = "50%" }

[policy]
origination = "10%"
practice = "60%"
pool_basis = "vested_units"
"""
