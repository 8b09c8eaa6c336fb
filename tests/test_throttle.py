"""``ledger.auth.throttle``: failed sign-ins counted in the database, with growing delays, on the
session's clock."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.auth import throttle
from ledger.auth.throttle import Policy
from ledger.core.clock import FixedClock

EMAIL, HOME, ELSEWHERE = "ana@example.com", "198.51.100.7", "203.0.113.66"
POLICY = Policy(attempts=3, address_attempts=10, delay=30, max_delay=300, forget_after=3600)


@pytest.fixture
def clock(s):
    clock = FixedClock(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC))
    s.info["clock"] = clock
    return clock


@pytest.mark.parametrize(("scope", "failures", "seconds"), [
    ("account", 1, 0), ("account", 2, 0), ("account", 3, 30), ("account", 4, 60), ("account", 5, 120),
    ("account", 6, 240), ("account", 7, 300), ("account", 10**6, 300),
    ("address", 9, 0), ("address", 10, 30), ("address", 11, 60),
])
def test_the_delay_doubles_from_the_free_failures_up_to_the_maximum(scope, failures, seconds):
    assert POLICY.lock_for(scope, failures) == seconds


def test_failures_lock_the_key_then_the_lock_passes(s, clock):
    assert [throttle.failed(s, EMAIL, HOME, POLICY) for _ in range(3)] == [0, 0, 30]
    assert throttle.retry_after(s, EMAIL, HOME) == 30
    assert throttle.retry_after(s, EMAIL, ELSEWHERE) == 0  # another address: another key
    assert throttle.retry_after(s, "ANA@example.com ", HOME) == 30  # the email as sign-in reads it
    clock.advance(seconds=29.5)
    assert throttle.retry_after(s, EMAIL, HOME) == 1
    clock.advance(seconds=0.5)
    assert throttle.retry_after(s, EMAIL, HOME) == 0


def test_a_success_clears_the_account_but_not_the_address(s, clock):
    for n in range(9):
        throttle.failed(s, f"x{n}@example.com", HOME, POLICY)
    throttle.failed(s, EMAIL, HOME, POLICY)
    assert throttle.retry_after(s, EMAIL, HOME) == 30  # the address's tenth failure
    throttle.succeeded(s, EMAIL, HOME)
    assert throttle.retry_after(s, EMAIL, HOME) == 30


def test_a_count_is_forgotten_after_a_quiet_while(s, clock):
    throttle.failed(s, EMAIL, HOME, POLICY)
    throttle.failed(s, EMAIL, HOME, POLICY)
    clock.advance(seconds=3601)
    assert throttle.failed(s, EMAIL, HOME, POLICY) == 0  # counting from one again
    assert throttle.failed(s, EMAIL, HOME, POLICY) == 0
    assert throttle.failed(s, EMAIL, HOME, POLICY) == 30
