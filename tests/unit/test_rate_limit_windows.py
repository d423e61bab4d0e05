"""The in-process rate limit's table (service.rate_limit.MemoryWindows), used by a single web
process without Redis: bounded whatever is thrown at it (issue 13, defect 6), and still a
sliding window per key. Who counts as one client (`client_key`)."""

import pytest

from service.rate_limit import MemoryWindows, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_table_never_holds_more_keys_than_its_cap_even_when_all_are_recent():
    windows = MemoryWindows(limit=10, window=600, max_keys=100, clock=Clock())
    for n in range(10_000):
        assert windows.attempt(f"203.0.113.{n}") is None
        assert len(windows) <= 100
    assert len(windows) == 100


def test_the_least_recently_used_key_is_the_one_forgotten():
    clock = Clock()
    windows = MemoryWindows(limit=2, window=600, max_keys=3, clock=clock)
    for key in ("eve", "eve", "a", "b"):
        windows.attempt(key)
    assert windows.attempt("eve") == pytest.approx(600), "eve is still counted"
    windows.attempt("c")  # over the cap: "a" is the least recently used
    assert windows.attempt("eve") is not None
    assert windows.attempt("a") is None and windows.attempt("a") is None, "a started again"


def test_an_attempt_leaves_the_window_after_window_seconds():
    clock = Clock()
    windows = MemoryWindows(limit=2, window=60, clock=clock)
    assert windows.attempt("k") is None
    clock.now += 30
    assert windows.attempt("k") is None
    assert windows.attempt("k") == pytest.approx(30)
    clock.now += 30
    assert windows.attempt("k") is None, "the first one has left"


def test_a_forgiven_attempt_is_not_counted():
    windows = MemoryWindows(limit=1, window=60, clock=Clock())
    assert windows.attempt("k") is None
    windows.forgive("k")
    assert windows.attempt("k") is None
    assert windows.attempt("k") is not None


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "unknown"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_slash_64(address, client):
    assert client_key(address) == client
