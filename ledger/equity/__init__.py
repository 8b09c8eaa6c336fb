"""Equity: grants, vesting (pure rules, ``vesting.py``), the dated events that reshape a schedule
(pauses and accelerations, ``events.py``), units in the ledger (``service.py``), and the OCF export
(``ocf.py``, ``ledger export-ocf`` in ``cli.py``)."""
