"""No input a form can send makes the web app answer 5xx (the definition of done: a bad input is a
clear error, never a 500). Every POST route, signed in as the treasurer, an admin and a partner,
gets hostile values — huge and tiny numbers, other digits, impossible dates, NUL, very long text,
markup — in every field its page shows, all fields at once and each alone."""

from __future__ import annotations

import re

import pytest
from helpers.routes import WEB_SAMPLES, web_routes
from helpers.web import login

from ledger import create_app

POSTS = [r for r in web_routes(create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "r"}),
                               WEB_SAMPLES) if r[1] == "POST"]
HOSTILE = ["", "0", "-0", "-1", "9" * 40, "1e400", "-1e-400", "NaN", "Infinity", "0.0000000001",
           "99999999999999999.99", "1" * 19, "2" * 25 + ".5", "1,000", " 12 ", "١٢٣", "2026-02-30", "2026-13",
           "9999-12-31", "0001-01-01", "x" * 5000, "\u0000", "<script>", "%", "ana", "Assets:Cash",
           "\udce9".encode("utf-8", "surrogateescape").decode("latin-1")]
FIELD = re.compile(r'name="([^"]+)"')


def test_every_post_route_is_walked():
    assert len(POSTS) >= 15


@pytest.mark.parametrize(("endpoint", "method", "url"), POSTS, ids=[f"{m} {u}" for _, m, u in POSTS])
def test_no_hostile_form_input_gets_a_5xx(web_module, endpoint, method, url):
    url = url.replace("/ledger/entries/1", f"/ledger/entries/{web_module.ana_draw}")
    failures = []
    for who in ("treasurer", "admin", "ana"):
        client = web_module.test_client()
        assert login(client, who).status_code == 302
        fields = [n for n in sorted(set(FIELD.findall(client.get(url).get_data(as_text=True))))
                  if n != "csrf_token"] or ["x"]
        for value in HOSTILE:
            for data in [dict.fromkeys(fields, value), *({n: value} for n in fields)]:
                status = client.post(url, data=data).status_code
                if status >= 500:
                    failures.append((who, sorted(data), value[:20], status))
    assert not failures, failures[:10]
