"""Imports every model so ``Base.metadata`` knows the whole schema (Alembic, tests)."""

from ledger.auth.models import ApiToken, User
from ledger.db import Base
from ledger.equity.models import Grant, VestingAcceleration, VestingPause
from ledger.governance.models import Elector, GovernanceRule, Proposal, Vote
from ledger.journal.models import (
                             Account,
                             AccountBalance,
                             BalanceSnapshot,
                             ChainHead,
                             Entry,
                             IdempotencyRecord,
                             Posting,
)
from ledger.practices.models import Client, Cost, Engagement, Firm, Ownership, Partner, Partnership, Practice
from ledger.revenue.models import Period, PolicyVersion
from ledger.succession.models import Retirement

__all__ = [
    "Account", "AccountBalance", "BalanceSnapshot", "ApiToken", "Elector", "Proposal", "Vote", "Base", "ChainHead", "Client", "Cost", "Engagement", "Entry", "Firm",
    "GovernanceRule", "Grant", "IdempotencyRecord", "Ownership", "Partner", "Partnership", "Period",
    "PolicyVersion", "Posting", "Practice", "Retirement", "User", "VestingAcceleration", "VestingPause",
]
