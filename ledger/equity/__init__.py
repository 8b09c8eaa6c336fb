"""Equity: grants, vesting (pure rules), units in the ledger."""
