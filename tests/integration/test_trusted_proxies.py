"""Behind a reverse proxy every request comes from the proxy's address: with TRUSTED_PROXIES
the lookup's rate limit counts the client the proxy names, so one guesser does not lock
every customer out, and without it a forged X-Forwarded-For buys nothing."""

PROXY = {"REMOTE_ADDR": "10.0.0.2"}


def _guess(service, client: str, number: int):
    """A miss; each a different order number, so only the limit per client is in play."""
    headers = {"X-Forwarded-For": client}
    form = {"order_number": f"#{number}", "email": "eve@example.com"}
    return service.client.post("/track", data=form, headers=headers, environ_base=PROXY)


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(start):
    service = start(TRUSTED_PROXIES="1")
    answers = [_guess(service, "203.0.113.9", n).status_code for n in range(11)]
    assert answers[-1] == 429
    assert _guess(service, "198.51.100.7", 99).status_code == 200, "another customer"


def test_without_it_a_forged_forwarded_for_does_not_reset_the_limit(start):
    service = start()
    answers = [_guess(service, f"203.0.113.{n}", n).status_code for n in range(11)]
    assert answers[-1] == 429
