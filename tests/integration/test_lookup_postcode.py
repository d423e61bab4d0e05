"""/track takes the shipping postcode in place of the email address (any case and spacing):
a match opens the order's page; a wrong one says only that nothing matched."""

from tests.support.webhooks import STORY


def _look_up(service, answer: str):
    return service.client.post("/track", data={"order_number": "#1042", "email": answer})


def test_the_shipping_postcode_finds_the_order_and_a_wrong_one_finds_nothing(service):
    assert service.post(STORY[0]).status_code == 202
    service.drain()
    for given in ("10001", " 10 001 "):
        found = _look_up(service, given)
        assert found.status_code == 303 and "/t/" in found.headers["Location"]
    missed = _look_up(service, "10002")
    assert missed.status_code == 200 and "No order matched" in missed.text
