"""Logging set-up: one line per record, no payloads, no secrets (we never log either)."""

import logging

#: Libraries that log what they are handed below INFO: Dramatiq every message's args; urllib3
#: every request line, query string included (Twilio's look-up asks `?To=<the customer's
#: number>`). Held at INFO whatever LOG_LEVEL says.
CHATTY = ("dramatiq", "urllib3")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.INFO))
