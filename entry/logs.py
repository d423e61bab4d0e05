"""Logging set-up: one line per record, no payloads, no secrets (we never log either)."""

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    # Dramatiq logs every retry with the message's args; ids only, so INFO is fine there.
    logging.getLogger("dramatiq").setLevel(max(logging.getLevelName(level), logging.INFO))
