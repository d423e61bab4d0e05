"""Play stories against a running service: build every delivery of a story, post them in the
story's arrival order with one progress line each, then read the order back through the API
(once the service has applied every accepted delivery) and compare it with the story.

Exit status: 0 every story ended as it says, 1 one did not (or a post was refused), 2 the
simulation could not run (a secret is missing, the service does not answer)."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from ordertrack.settings import Settings
from simulate.sources import Parcel, Post, Scene, SimulationError, builder
from simulate.stories import (
    ITEMS,
    STORIES,
    Fulfill,
    Pay,
    PlaceOrder,
    Step,
    Story,
    Track,
)

#: Room for every story of every platform and carrier in one run: serial = run id * 100 + n.
PLAYS_PER_RUN = 100
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Options:
    stories: tuple[str, ...]
    platforms: tuple[str, ...]
    carriers: tuple[str, ...]
    url: str = "http://localhost:8000"
    api_token: str | None = None
    #: Seconds to wait for the service to apply what it accepted before reading the order.
    wait: float = 15.0
    #: Every id and tracking number derives from it; None draws a fresh one.
    run_id: int | None = None


def new_run_id() -> int:
    """Seven digits: ids fit the providers' formats and two runs almost never meet."""
    return random.SystemRandom().randrange(10**6, 10**7)


def listing() -> str:
    width = max(map(len, STORIES))
    lines = []
    for story in STORIES.values():
        ends = story.expect.value + (f" ({story.progress})" if story.progress else "")
        lines.append(f"{story.name:<{width}}  {story.summary}; ends {ends}")
    return "\n".join(lines)


def run(options: Options, settings: Settings, out: Callable[[str], None] = print) -> int:
    run_id = options.run_id or new_run_id()
    plays = [
        (STORIES[name], platform, carrier)
        for platform in options.platforms
        for carrier in options.carriers
        for name in options.stories
    ]
    assert len(plays) < PLAYS_PER_RUN, "more plays than one run has ids for"
    out(f"run {run_id}: posting to {options.url}")
    failed, skipped = [], 0
    with requests.Session() as session:
        player = _Player(session, options, settings, out)
        for number, (story, platform, carrier) in enumerate(plays, 1):
            try:
                ok = player.play(story, platform, carrier, run_id * PLAYS_PER_RUN + number)
            except SimulationError as exc:
                out(f"cannot simulate: {exc}")
                return 2
            skipped += ok is None
            if ok is False:
                failed.append(f"{story.name} ({platform} + {carrier})")
    played = len(plays) - skipped
    if len(plays) > 1:
        also = f" ({skipped} skipped)" if skipped else ""
        out(f"{played - len(failed)} of {played} stories ended as expected{also}")
    for name in failed:
        out(f"  not as expected: {name}")
    return 1 if failed else 0


def describe(step: Step) -> str:
    if isinstance(step, PlaceOrder):
        return "order placed"
    if isinstance(step, Pay):
        return "paid"
    if isinstance(step, Fulfill):
        return f"parcel {step.parcel} fulfilled"
    return f"parcel {step.parcel} {step.status.value}"


def new_scene(story: Story, serial: int, carrier: str, settings: Settings) -> Scene:
    """A fresh order for `story`, whose last event happened a few minutes ago."""
    tracker = builder(carrier)
    span = max(step.at for step in story.steps) + timedelta(minutes=5)
    started = (datetime.now(UTC) - span).replace(microsecond=0)
    parcels = {}
    for step in story.steps:
        if isinstance(step, Fulfill):
            number = tracker.tracking_number(serial, step.parcel)
            items = step.items or tuple(range(1, len(ITEMS) + 1))
            url = tracker.tracking_url(number)
            parcels[step.parcel] = Parcel(step.parcel, number, tracker.CARRIER, url, items)
    return Scene(story, serial, started, parcels, settings)


def deliveries(scene: Scene, platform: str, carrier: str) -> list[Post]:
    """Every step's delivery, in the order the steps happened: the platform's, the carrier's."""
    shop, tracker = builder(platform), builder(carrier)
    return [
        (tracker if isinstance(step, Track) else shop).build(scene, index)
        for index, step in enumerate(scene.story.steps)
    ]


class _Player:
    def __init__(self, session: requests.Session, options: Options, settings, out) -> None:
        self.session, self.options, self.settings, self.out = session, options, settings, out

    def play(self, story: Story, platform: str, carrier: str, serial: int) -> bool | None:
        """Whether the story ended as it says; None when the carrier cannot tell it."""
        shop, unsupported = builder(platform), builder(carrier).UNSUPPORTED
        unsaid = {s: r for s, r in unsupported.items() if s in story.statuses()}
        if unsaid:
            reasons = "; ".join(f"{s.value}: {r}" for s, r in unsaid.items())
            self.out(f"{story.name} ({platform} + {carrier}): skipped, {reasons}")
            return None
        scene = new_scene(story, serial, carrier, self.settings)
        # Built before the first post, so a missing secret stops the story before it starts.
        posts = deliveries(scene, platform, carrier)
        order_id = str(shop.order_id(serial))
        self.out(self._heading(scene, platform, carrier, order_id))
        accepted, ok = set(), True
        for n, index in enumerate(story.posts, 1):
            again = index in story.posts[: n - 1]
            inbox_id, posted = self._post(
                n, len(story.posts), posts[index], story.steps[index], again
            )
            ok &= posted
            if inbox_id is not None:
                accepted.add(inbox_id)
        return self._check(story, platform, order_id, accepted) and ok

    def _heading(self, scene: Scene, platform: str, carrier: str, order_id: str) -> str:
        story = scene.story
        numbers = ", ".join(p.tracking_number for p in scene.parcels.values())
        ends = story.expect.value + (f" ({story.progress})" if story.progress else "")
        return (
            f"{story.name}: {platform} order {order_id}, {carrier} tracking {numbers};"
            f" expect {ends}"
        )

    def _post(self, n: int, total: int, post: Post, step: Step, again: bool):
        """Send one delivery and print its line; (inbox id if accepted, whether it went as
        the story means: 2xx, and a repeat answered as a duplicate)."""
        response = self._request(
            "POST", self.options.url + post.path, data=post.body, headers=post.headers
        )
        answer = _answer(response)
        what = describe(step) + (" (again)" if again else "")
        said = answer.get("status") if response.ok else answer.get("error")
        verdict, ok = f"{response.status_code} {str(said or '')[:60]}", True
        if not 200 <= response.status_code < 300:
            ok = False
        elif again and answer.get("status") != "duplicate":
            verdict, ok = f"{verdict}: expected a duplicate", False
        width = len(str(total))
        self.out(f"[{n:>{width}}/{total}] {post.source:<11} {post.topic:<21} {what:<34} {verdict}")
        accepted = response.status_code == 202 and isinstance(answer.get("id"), int)
        return (answer["id"] if accepted else None), ok

    def _request(self, method: str, url: str, **options) -> requests.Response:
        """One HTTP call to the service; a service that does not answer ends the run (exit 2)."""
        try:
            return self.session.request(method, url, timeout=REQUEST_TIMEOUT, **options)
        except requests.RequestException as exc:
            raise SimulationError(
                f"{self.options.url} does not answer ({type(exc).__name__}); is the service "
                "running (`make run`)?"
            ) from None

    def _check(self, story: Story, platform: str, order_id: str, accepted: set[int]) -> bool:
        token = self.options.api_token
        if not token:
            self.out("   (set API_TOKEN or pass --api-token to read the order back and check it)")
            return True
        document, pending = self._settled(platform, order_id, accepted, token)
        if document is None:
            self.out(f"   => no {platform} order {order_id} after {self.options.wait:g} s")
            return False
        status, progress = document["status"], document.get("progress")
        shown = status + (f" ({progress})" if progress else "")
        expected = status == story.expect.value and (
            story.progress is None or progress == story.progress
        )
        note = (
            "as expected" if expected else f"NOT AS EXPECTED: the story ends {story.expect.value}"
        )
        if story.progress and not expected:
            note += f" ({story.progress})"
        if pending:
            note += f"; {pending} accepted deliveries not applied after {self.options.wait:g} s"
        self.out(f"   => {shown}, {note}")
        return expected and not pending

    def _settled(self, platform: str, order_id: str, accepted: set[int], token: str):
        """The order once every accepted delivery shows in its history (so the queue has
        applied them all), or as it stands when the wait is over; and how many are missing."""
        url = f"{self.options.url}/api/v1/orders/{platform}/{order_id}"
        deadline = time.monotonic() + self.options.wait
        document = None
        while True:
            response = self._request("GET", url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 401:
                raise SimulationError(f"the API refused the token: {_answer(response)}")
            if response.status_code == 200:
                document = response.json()
                applied = {h["source_event"]["inbox_id"] for h in document["history"]}
                if accepted <= applied or time.monotonic() > deadline:
                    return document, len(accepted - applied)
            if time.monotonic() > deadline:
                return document, len(accepted)
            time.sleep(0.1)


def _answer(response: requests.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {"error": response.text[:80]}
    return answer if isinstance(answer, dict) else {}
