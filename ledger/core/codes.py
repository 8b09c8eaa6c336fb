"""The shapes of the identifiers a user chooses, and the kinds of things the product knows (pure).

Every surface checks input against these same patterns (the charter, the API's schemas, the web
forms, the URL converters), so a code accepted in one place is accepted in all. They are written
for the OpenAPI document too (``^…$``); Python checks them whole with ``core.text.fits``.
"""

from __future__ import annotations

#: A partner, practice, client, firm or category code: the id everywhere, and an account name part.
CODE_RE = r"^[a-z0-9-]{2,32}$"
#: An engagement reference chosen by the caller.
REF_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: A period id: ``2026-01`` (a month) or ``2026-Q1`` (a quarter); and the same or a year ``2026``.
PERIOD_RE = r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$"
PERIOD_OR_YEAR_RE = r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$"

#: The kinds of proposal (CONTRACT §5, §7), in the order forms list them.
PROPOSAL_KINDS = ("add_practice", "admit_partner", "change_policy", "retire_partner", "amend_vesting",
                  "resolution", "change_governance")
#: What an ``amend_vesting`` proposal does to a partner's schedule (CONTRACT §7).
VESTING_ACTIONS = ("pause", "resume", "accelerate")
