"""Imports every model so ``Base.metadata`` knows the whole schema (Alembic, tests)."""

from .auth.models import ApiToken, User
from .db import Base
from .equity.models import Grant
from .governance.models import GovernanceRule
from .journal.models import Account, ChainHead, Entry, IdempotencyRecord, Posting
from .practices.models import Client, Engagement, Firm, Ownership, Partner, Partnership, Practice
from .revenue.models import Period, PolicyVersion

__all__ = [
    "Account", "ApiToken", "Base", "ChainHead", "Client", "Engagement", "Entry", "Firm",
    "GovernanceRule", "Grant", "IdempotencyRecord", "Ownership", "Partner", "Partnership", "Period",
    "PolicyVersion", "Posting", "Practice", "User",
]
