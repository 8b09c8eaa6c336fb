"""Imports every area's models so ``Base.metadata`` knows the whole schema (Alembic's env, tests).
Nothing in the product imports this module: each area imports its own models."""

from ledger.auth import models as auth
from ledger.db import Base
from ledger.equity import models as equity
from ledger.governance import models as governance
from ledger.journal import models as journal
from ledger.notify import models as notify
from ledger.practices import models as practices
from ledger.revenue import models as revenue
from ledger.succession import models as succession

__all__ = ["Base", "auth", "equity", "governance", "journal", "notify", "practices", "revenue", "succession"]
