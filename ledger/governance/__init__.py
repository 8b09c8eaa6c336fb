"""Governance: proposals, votes and their tally (``core.tally``), and the effects a passed proposal
applies."""
