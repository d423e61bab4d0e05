"""`ordertrack simulate` against the real service: `ordertrack serve --dev` as a subprocess on a
free port (SQLite, the in-process queue), every story told through every platform and carrier
by `ordertrack simulate` as a subprocess; each progress line, the exit status and the final
order (read back through the API) are checked. The builders' signatures are checked by the
providers' own verify(): the builders are the simulation's, verify() is what is under test."""

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from ordertrack import providers, strictjson
from ordertrack.errors import BadSignature
from ordertrack.facts import FulfillmentFact, OrderFact, carrier_code
from ordertrack.providers.base import WebhookRequest
from ordertrack.settings import Settings
from ordertrack.statuses import ShipmentStatus
from simulate import runner
from simulate.sources import CARRIERS, PLATFORMS, Post, SimulationError, builder
from simulate.stories import STORIES, Fulfill, Story, Track
from tests.support.processes import ORDERTRACK, dev_server
from tests.support.smtp import free_port

#: The service's and the simulator's secrets alike; each with what its scheme must get right.
SECRETS = {
    "shopify": "shpss_simulated",
    "woocommerce": "wc_sim&amp;&lt;secret&gt;",  # stored with entities: WordPress decodes them
    "easypost": "sécret-simulated",  # NFKD-normalized before use
    "aftership": "as-sécret-simulated",  # UTF-8 bytes as they are
    "shippo": "shippo-hmac-simulated",
    "ups": "ups-credential-simulated",
    "fedex": "AdaLovelace1842SimulatedFedExToken",
}
TOKENS = {"shippo": "shippo-url-token-simulated"}
API_TOKEN = "simulate-api-token"
SETTINGS = Settings(
    webhook_secrets={source: (secret,) for source, secret in SECRETS.items()},
    webhook_tokens={source: (token,) for source, token in TOKENS.items()},
)

#: Where a carrier has no word for a story's status, what the provider makes of the nearest
#: thing the carrier really sends (the story's ending does not depend on these).
NEAREST = {
    # EasyPost: an attempt that will be retried stays in_transit (status_detail says why).
    ("easypost", ShipmentStatus.DELIVERY_FAILED): ShipmentStatus.IN_TRANSIT,
    # UPS: a failed attempt is an exception scan (type X, code DA).
    ("ups", ShipmentStatus.DELIVERY_FAILED): ShipmentStatus.EXCEPTION,
}


def _env(**extra: str) -> dict[str, str]:
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("WEBHOOK_", "BIGCOMMERCE_", "SMTP_", "REDIS_URL", "DATABASE_URL"))
        and name != "API_TOKEN"
    }
    secrets = {f"WEBHOOK_SECRET_{s.upper()}": value for s, value in SECRETS.items()}
    tokens = {f"WEBHOOK_TOKEN_{s.upper()}": value for s, value in TOKENS.items()}
    return {**keep, **secrets, **tokens, "API_TOKEN": API_TOKEN, "LOG_LEVEL": "WARNING", **extra}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    """`ordertrack serve --dev` on a free port, SQLite in a temporary folder, the in-process
    queue; its URL."""
    folder = tmp_path_factory.mktemp("simulate")
    with dev_server(folder, _env()) as (url, _, _):
        yield url


def simulate(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ORDERTRACK, "simulate", "--url", url, *args],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Played:
    """One story's block of output: its heading, progress lines and outcome line."""

    story: str
    platform: str
    carrier: str
    order_id: str
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)
    outcome: str = ""


HEADING = re.compile(r"^(\w+): (\w+) order (\d+), (\w+) tracking [^;]+; expect .+$")
PROGRESS = re.compile(r"^\[ *(\d+)/(\d+)\] (\S+) +(\S+) +(.+?) +(\d{3} .+)$")


def played(output: str) -> list[Played]:
    blocks: list[Played] = []
    for line in output.splitlines():
        if heading := HEADING.match(line):
            story, platform, order_id, carrier = heading.groups()
            blocks.append(Played(story, platform, carrier, order_id))
        elif progress := PROGRESS.match(line):
            _, _, source, topic, what, verdict = progress.groups()
            blocks[-1].lines.append((source, topic, what, verdict))
        elif line.startswith("   => "):
            blocks[-1].outcome = line.removeprefix("   => ")
    return blocks


def expected_lines(story: Story, platform: str, carrier: str) -> list[tuple[str, str, str]]:
    """(source, what happened, answer) for each post, in the story's arrival order."""
    lines = []
    for n, index in enumerate(story.posts):
        step = story.steps[index]
        again = index in story.posts[:n]
        source = carrier if isinstance(step, Track) else platform
        what = runner.describe(step) + (" (again)" if again else "")
        lines.append((source, what, "200 duplicate" if again else "202 accepted"))
    return lines


def ending(story: Story) -> str:
    return story.expect.value + (f" ({story.progress})" if story.progress else "")


def api_order(url: str, platform: str, order_id: str) -> dict:
    response = requests.get(
        f"{url}/api/v1/orders/{platform}/{order_id}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_every_story_through_every_platform_and_carrier_ends_as_it_says(served):
    done = simulate(
        served, "--story", "all", "--platform", "all", "--carrier", "all", "--wait", "30"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    blocks = played(done.stdout)
    told = {(b.story, b.platform, b.carrier) for b in blocks}
    every = {(s, p, c) for s in STORIES for p in PLATFORMS for c in CARRIERS}
    # UPS Track Alert has no return-to-sender code: that story is skipped, and says so.
    untold = {(s, p, c) for s, p, c in every if (s, c) == ("return_to_sender", "ups")}
    assert told == every - untold
    for story, platform, carrier in untold:
        assert f"{story} ({platform} + {carrier}): skipped" in done.stdout
    assert f"{len(told)} of {len(told)} stories ended as expected (2 skipped)" in done.stdout
    assert len({b.order_id for b in blocks}) == len(blocks), "every story has its own order"
    for block in blocks:
        story = STORIES[block.story]
        got = [(source, what, verdict) for source, _, what, verdict in block.lines]
        assert got == expected_lines(story, block.platform, block.carrier), block
        assert block.outcome == f"{ending(story)}, as expected", block
        order = api_order(served, block.platform, block.order_id)
        assert order["status"] == story.expect.value, (block, order["history"])
        assert story.progress is None or order["progress"] == story.progress
        assert len(order["shipments"]) == len(story.parcels)


def test_a_parked_story_shows_each_provider_s_topic_and_applies_every_carrier_event(served):
    done = simulate(
        served, "--story", "carrier_before_fulfillment", "--platform", "woocommerce",
        "--carrier", "shippo", "--run-id", "4242",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (block,) = played(done.stdout)
    assert block.order_id == str(4242 * runner.PLAYS_PER_RUN + 1)
    assert [topic for _, topic, _, _ in block.lines] == [
        "order.created",
        "order.updated",
        *["track_updated"] * 4,
        "order.updated",
    ]
    order = api_order(served, "woocommerce", block.order_id)
    (shipment,) = order["shipments"]
    assert (shipment["status"], shipment["carrier"]) == ("delivered", "USPS")
    tracking = [h for h in order["history"] if h["kind"] == "tracking"]
    assert {h["source_event"]["source"] for h in tracking} == {"shippo"}
    assert [h["status"] for h in tracking] == [
        "label_created",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]


def test_deliveries_the_service_refuses_are_shown_and_the_run_fails(served):
    done = simulate(served, "--wait", "1", WEBHOOK_SECRET_SHOPIFY="not-the-service-s-secret")
    assert done.returncode == 1, done.stdout + done.stderr
    (block,) = played(done.stdout)
    verdicts = [verdict for source, _, _, verdict in block.lines if source == "shopify"]
    assert verdicts == ["401 signature does not match"] * 3
    assert "not as expected: happy_path (shopify + easypost)" in done.stdout


def test_a_service_that_does_not_answer_exits_2_and_says_what_to_check():
    done = simulate(f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "does not answer" in done.stdout and "make run" in done.stdout


def test_a_missing_secret_stops_the_story_before_anything_is_posted():
    done = simulate("http://127.0.0.1:9", "--carrier", "fedex", WEBHOOK_SECRET_FEDEX="")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "set WEBHOOK_SECRET_FEDEX" in done.stdout
    assert not PROGRESS.search(done.stdout)


def test_help_explains_the_command_and_why_bigcommerce_is_left_out(capsys):
    from entry.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("WEBHOOK_SECRET_<SOURCE>", "API_TOKEN", "BigCommerce is not simulated", "--wait"):
        assert words in text
    for name in (*STORIES, *PLATFORMS, *CARRIERS):
        assert name in text


def test_list_names_every_story_with_its_ending():
    lines = runner.listing().splitlines()
    assert [line.split()[0] for line in lines] == list(STORIES)
    for line, story in zip(lines, STORIES.values(), strict=True):
        assert line.endswith(f"ends {ending(story)}")


# The builders, checked by the providers themselves.


def _scenes(serial: int = 1234567):
    """Every story as each platform and carrier tells it: story, platform, carrier, the scene
    and its deliveries, one per step."""
    for platform in PLATFORMS:
        for carrier in CARRIERS:
            for story in STORIES.values():
                if story.statuses() & builder(carrier).UNSUPPORTED.keys():
                    continue
                scene = runner.new_scene(story, serial, carrier, SETTINGS)
                yield story, platform, carrier, scene, runner.deliveries(scene, platform, carrier)


def _delivery(post: Post, body: bytes | None = None, **headers: str) -> WebhookRequest:
    query = dict(parse_qsl(urlsplit(post.path).query))
    body = post.body if body is None else body
    return WebhookRequest(body=body, headers={**post.headers, **headers}, query=query)


def test_every_delivery_is_signed_so_its_provider_verifies_it_and_a_changed_one_fails():
    for _, _, _, _, posts in _scenes():
        for post in posts:
            provider = providers.get(post.source)
            credentials = SETTINGS.credentials_for(post.source)
            provider.verify(_delivery(post), credentials)
            # One more byte breaks every HMAC; UPS signs nothing, its credential is the proof.
            with pytest.raises(BadSignature):
                provider.verify(_delivery(post, post.body + b" ", credential="x"), credentials)


def test_every_step_reads_back_as_the_status_time_and_parcel_the_story_tells():
    received = datetime.now(UTC)
    for story, _, carrier, scene, posts in _scenes():
        for step, post in zip(story.steps, posts, strict=True):
            provider = providers.get(post.source)
            payload = strictjson.loads(post.body)
            envelope = provider.envelope(_delivery(post), payload)
            assert envelope.handled and envelope.topic == post.topic
            facts = provider.normalize(envelope.topic, payload, received)
            if isinstance(step, Track):
                (fact,) = facts
                parcel = scene.parcels[step.parcel]
                expected = NEAREST.get((carrier, step.status), step.status)
                assert fact.status is expected, (story.name, carrier, step, fact)
                assert fact.occurred_at == scene.time(step), (story.name, carrier, step)
                assert fact.shipment.tracking_number == parcel.tracking_number
                assert carrier_code(fact.shipment.carrier) == carrier_code(parcel.carrier)
            elif isinstance(step, Fulfill):
                fulfilled = {
                    f.tracking_number: f.occurred_at
                    for f in facts
                    if isinstance(f, FulfillmentFact)
                }
                number = scene.parcels[step.parcel].tracking_number
                assert fulfilled[number] == scene.time(step), (story.name, step)
            else:
                (fact, *_) = facts
                assert isinstance(fact, OrderFact) and fact.occurred_at == scene.time(step)


def test_a_step_built_twice_is_the_same_delivery_and_two_runs_share_no_ids():
    other = {(s.name, p, c): scene for s, p, c, scene, _ in _scenes(7654321)}
    for story, platform, carrier, scene, posts in _scenes(1234567):
        again = runner.deliveries(scene, platform, carrier)
        for post, twin in zip(posts, again, strict=True):
            if post.source == "shippo":  # signed at the moment of sending: only `t=` may move
                assert (post.body, post.path) == (twin.body, twin.path), story.name
            else:
                assert post == twin, (story.name, platform, carrier)
        later = other[story.name, platform, carrier]
        numbers = {p.tracking_number for p in scene.parcels.values()}
        assert not numbers & {p.tracking_number for p in later.parcels.values()}
        assert builder(platform).order_id(scene.serial) != builder(platform).order_id(later.serial)


def test_a_source_without_its_secret_says_which_variable_to_set():
    scene = runner.new_scene(STORIES["happy_path"], 1234567, "shippo", Settings())
    with pytest.raises(SimulationError, match="WEBHOOK_SECRET_SHOPIFY"):
        builder("shopify").build(scene, 0)
    with pytest.raises(SimulationError, match="WEBHOOK_TOKEN_SHIPPO"):
        builder("shippo").build(scene, 3)


def test_every_story_happens_in_time_order_and_posts_every_step():
    for story in STORIES.values():
        times = [step.at for step in story.steps]
        assert times == sorted(times), story.name
        assert set(story.posts) == set(range(len(story.steps))), story.name
    shuffled = STORIES["out_of_order"].posts
    assert shuffled != tuple(sorted(shuffled)) and len(set(shuffled)) == len(shuffled)
    assert len(STORIES["duplicates"].posts) > len(set(STORIES["duplicates"].posts))
