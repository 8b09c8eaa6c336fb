"""Governance: proposals, votes, tallies (pure), effects."""
