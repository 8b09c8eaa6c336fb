"""Imports every model so ``Base.metadata`` knows the whole schema (Alembic, tests)."""

from .auth.models import ApiToken, User
from .db import Base
from .equity.models import Grant, VestingAcceleration, VestingPause
from .governance.models import Elector, GovernanceRule, Proposal, Vote
from .journal.models import (
                             Account,
                             AccountBalance,
                             BalanceSnapshot,
                             ChainHead,
                             Entry,
                             IdempotencyRecord,
                             Posting,
)
from .practices.models import Client, Cost, Engagement, Firm, Ownership, Partner, Partnership, Practice
from .revenue.models import Period, PolicyVersion
from .succession.models import Retirement

__all__ = [
    "Account", "AccountBalance", "BalanceSnapshot", "ApiToken", "Elector", "Proposal", "Vote", "Base", "ChainHead", "Client", "Cost", "Engagement", "Entry", "Firm",
    "GovernanceRule", "Grant", "IdempotencyRecord", "Ownership", "Partner", "Partnership", "Period",
    "PolicyVersion", "Posting", "Practice", "Retirement", "User", "VestingAcceleration", "VestingPause",
]
