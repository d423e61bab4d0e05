"""The deployment of the README's "Run it at scale", whole, as CI can run it: gunicorn with 2
workers, 2 `ordertrack worker` processes and `ordertrack sweep`, on PostgreSQL and a private
Redis, sending to a real SMTP server. `ordertrack simulate` tells every story through every
platform and carrier and checks each order through the API; then it does so again while a
worker process is killed (SIGKILL) twice, each time in the middle of sending an email.

The kills are aimed, not timed: the SMTP sink holds the next message and the process owning
the held connection is the one killed. The first kill lands before the server takes the
message (Q-1: it must arrive exactly once, later); the second after the server took it and
before the worker heard so (Q-2, the ambiguous window: at most one extra copy). A killed
send's lease is almost four minutes at these timeouts; the test moves that row's lease into
the past instead of waiting it out (its worker is seen dead first), and so the leases of any
other sends the killed process had in flight on its other threads: the claim, the sweeper's
re-drive and the resend that follow are the product's own.

Each run of the matrix is two `ordertrack simulate` processes side by side, one per
platform: the same stories, platforms and carriers, in about half the time."""

import subprocess
import time

import pytest

from simulate.sources import CARRIERS, PLATFORMS
from simulate.stories import STORIES
from tests.faults.stack import AFTER, BEFORE, MultiStack, clean_env, kill_in_flight, multi_stack
from tests.integration.test_simulate import api_order, ending, expected_lines, played
from tests.support.processes import ORDERTRACK

#: UPS Track Alert has no return-to-sender code: the simulation skips that story, and says so.
UNTOLD = {(s, p, c) for s in STORIES for p in PLATFORMS for c in CARRIERS
          if (s, c) == ("return_to_sender", "ups")}  # fmt: skip
#: The held emails are "delivered" news: never stale by the time the retry comes.
DELIVERED = "was delivered"
EVERY = {(s, p, c) for s in STORIES for p in PLATFORMS for c in CARRIERS} - UNTOLD


def simulate(url: str) -> list[subprocess.Popen]:
    """The whole matrix, one `ordertrack simulate` per platform side by side (each story
    waits for its order to settle, so two at once take half the time; each run draws its own
    run id, so their orders never meet)."""
    runs = []
    for platform in PLATFORMS:
        argv = [ORDERTRACK, "simulate", "--url", url, "--story", "all", "--platform", platform]
        argv += ["--carrier", "all", "--wait", "90"]
        runs.append(
            subprocess.Popen(
                argv, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    return runs


def check_every_story(stack: MultiStack, runs: list[subprocess.Popen]) -> None:
    """What tests/integration/test_simulate.py checks of the matrix, on this deployment."""
    told = set()
    for platform, run in zip(PLATFORMS, runs, strict=True):
        output, _ = run.communicate(timeout=300)
        trouble = [line for line in output.splitlines() if "NOT AS" in line or "not app" in line]
        assert run.returncode == 0, "\n".join(trouble) or output
        blocks = played(output)
        told |= {(b.story, b.platform, b.carrier) for b in blocks}
        expected = len([play for play in EVERY if play[1] == platform])
        assert f"{expected} of {expected} stories ended as expected" in output, output
        for block in blocks:
            story = STORIES[block.story]
            got = [(source, what, verdict) for source, _, what, verdict in block.lines]
            assert got == expected_lines(story, block.platform, block.carrier), block
            assert block.outcome == f"{ending(story)}, as expected", block
            order = api_order(stack.url, block.platform, block.order_id)
            assert order["status"] == story.expect.value, (block, order["history"])
            assert len(order["shipments"]) == len(story.parcels)
    assert told == EVERY


def sent_emails(stack: MultiStack) -> set[str]:
    """The Message-IDs of every email the outbox says went; none may be left unfinished or
    failed (I2)."""
    rows = [row for row in stack.outbox() if row[2] == "email"]
    assert not [row for row in rows if row[3] not in ("sent", "skipped")], rows
    return {message_id for *_, status, message_id in rows if status == "sent"}


@pytest.mark.fault("Q-1", "Q-2")
@pytest.mark.timeout(600)
def test_every_story_ends_right_on_the_deployment_and_survives_two_worker_kills(
    postgres_url, tmp_path, figures
):
    started = time.monotonic()
    with multi_stack(postgres_url, tmp_path, COMMIT_TIMEOUT_SECONDS="10") as stack:
        figures.add("stack up", f"{time.monotonic() - started:.0f} s")
        check_every_story(stack, simulate(stack.url))
        stack.wait_settled(timeout=60)
        sent = sent_emails(stack)
        copies = stack.sink.copies()
        assert sent and set(copies) == sent, "I3: the sink holds exactly the emails sent"
        assert sum(copies.values()) == len(sent), "I4: no duplicate without a kill"
        clean_run = time.monotonic() - started
        figures.add("clean run", f"{clean_run:.0f} s, {len(sent)} emails")

        runs = simulate(stack.url)
        killed = [kill_in_flight(stack, mode, 120, DELIVERED) for mode in (BEFORE, AFTER)]
        for held in killed:
            stack.age_lease(held.outbox_id)
        time.sleep(6)  # any send a live worker had in flight has finished by now
        stranded = stack.age_stranded_leases(older_than=5)
        check_every_story(stack, runs)
        stack.wait_settled(timeout=90)

        sent = sent_emails(stack)
        copies = stack.sink.copies()
        assert set(copies) == sent, "I3: the sink holds exactly the emails sent"
        before, after = killed
        for held, most in ((before, 1), (after, 2)):
            story = (held, stack.sink.arrivals(held.message_id), stack.attempts(held.outbox_id))
            assert held.message_id in sent and copies[held.message_id] <= most, story
        extra = sum(copies.values()) - len(copies)
        assert extra <= len(killed), f"I4: {extra} extra copies for {len(killed)} kills"
        figures.add("kills", f"{len(killed)} (before and after the server took the message)")
        figures.add("other sends the kills stranded", stranded)
        figures.add("emails", f"{len(sent)} sent, {extra} extra copies")
        figures.add("wall", f"{time.monotonic() - started:.0f} s")
