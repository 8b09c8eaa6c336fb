"""Equity: grants and their vesting (the pure rules are ``core.vesting``), the dated events that
reshape a schedule (pauses and accelerations, ``events.py``), units in the ledger
(``service.py``), and the OCF export (``ocf.py``)."""
