"""The worker side's composition root: settings, database sessions, channels and the
broker with our actors declared on it. Built once per process, never at import time."""

from dataclasses import dataclass
from urllib.parse import urlsplit

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.notifications.email import SmtpConfig
from ordertrack.notifications.sender import Channels
from ordertrack.settings import Settings
from ordertrack.store.db import make_engine, make_sessionmaker
from workers.actors import Actors, declare_actors
from workers.broker import setup_broker


@dataclass
class Runtime:
    settings: Settings
    #: Durable commits: the inbox writer and the API.
    engine: Engine
    #: The workers' transactions (asynchronous commit on PostgreSQL).
    sessions: sessionmaker[Session]
    broker: dramatiq.Broker
    actors: Actors


def build_runtime(settings: Settings, *, broker: dramatiq.Broker | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    # Workers' own commits need not wait for the disk: their input stays in the durable
    # inbox until they finish, and the sweeper re-drives whatever a crash loses.
    sessions = make_sessionmaker(make_engine(settings.database_url, durable=False))
    broker = broker or setup_broker(settings)
    channels = Channels(
        smtp=smtp_config(settings),
        shop_name=settings.shop_name,
        message_domain=urlsplit(settings.public_base_url).hostname or "localhost",
        max_attempts=settings.max_attempts,
    )
    actors = declare_actors(broker, sessions, channels, settings)
    return Runtime(settings, engine, sessions, broker, actors)


def smtp_config(settings: Settings) -> SmtpConfig | None:
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
        helo_name=urlsplit(settings.public_base_url).hostname or "localhost",
    )
