"""Plain helpers the tests import as usual (``from helpers.api import ApiClient``): no fixtures here.

- ``helpers.engine``: which database engine the run uses, and creating, migrating and dropping databases;
- ``helpers.api``: ``ApiClient`` (the test client with a token per role) and ``assert_problem``;
- ``helpers.web``: signing in, the worked January booked through the services, reading pages;
- ``helpers.postings``: engagements, invoices, costs, overhead and draws posted straight to the journal.

The fixtures built on them are in ``tests/fixtures/``, loaded by ``tests/conftest.py``.
"""
