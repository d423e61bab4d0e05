"""/admin/attention, "Needs attention": the open delay flags, oldest first, each with its
order, parcel, kind in words, since when and for how long. The oldest delay is the one a
customer is likeliest to ask about next, so it comes first. Paged by a keyset cursor on
(since, id), like the order list, so a long list stays fast and a page never repeats a row."""

import base64
import binascii
from datetime import UTC, datetime

from flask import request, url_for

from ordertrack import delays
from ordertrack.store import documents, flags
from ordertrack.store.models import ID_MAX
from service.console import bp
from service.console.web import edge, refuse, render

#: Flags a page shows, unless `limit` asks for fewer or more (up to MAX_PAGE).
PAGE = 50
MAX_PAGE = 200


@bp.get("/attention")
def attention():
    try:
        after = _decode(request.args.get("after", ""))
    except ValueError:
        return refuse(400, "No such page", "The page link is not one this console gave out.")
    text = request.args.get("limit", "")
    limit = int(text) if text.isdigit() and 0 < int(text) <= MAX_PAGE else PAGE
    now = datetime.now(UTC)
    with edge().sessions() as session:
        rows, next_key = flags.attention(session, after, limit)
        counts = flags.count_open_by_kind(session)
        shown = [documents.flag_row(flag, order, now) for flag, order in rows]
    kept = {"limit": text} if limit != PAGE else {}
    next_url = url_for("console.attention", after=_encode(next_key), **kept) if next_key else None
    return render(
        "console/attention.html",
        rows=shown,
        counts={kind: (delays.WORDS.get(kind, kind), n) for kind, n in counts.items()},
        total=sum(counts.values()),
        next_url=next_url,
        first_page=after is None,
    )


def _encode(key: tuple[datetime, int]) -> str:
    raw = f"{key[0].isoformat()}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int] | None:
    """The (since, id) after which the page starts; ValueError for one we never gave out."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, flag_id = raw.partition("|")
        since, flag_id = datetime.fromisoformat(at), int(flag_id)
        if since.tzinfo is None or not 0 < flag_id <= ID_MAX:
            raise ValueError("not a cursor of ours")
        return since, flag_id
    except (UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError("bad cursor") from exc
