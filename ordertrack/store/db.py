"""Engines and sessions, built by a composition root and never at import time."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

#: Seconds to reach PostgreSQL; psycopg rounds anything lower up to 2. A webhook still gets
#: its 503 sooner: it waits COMMIT_TIMEOUT_SECONDS (1.5) for its row, whatever the pool does.
CONNECT_TIMEOUT_SECONDS = 2
#: How long SQLite waits for another writer's lock before it gives up ("database is locked").
SQLITE_BUSY_TIMEOUT_SECONDS = 15
#: The longest a statement recording a sent message may wait for a lock: PostgreSQL's
#: lock_timeout set for that transaction, and SQLite's busy timeout.
RECORDING_WAIT_SECONDS = SQLITE_BUSY_TIMEOUT_SECONDS


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    durable: bool = True,
    statement_timeout_ms: int | None = None,
) -> Engine:
    """`durable=False` is for the workers' transactions: PostgreSQL then acknowledges a
    commit before its WAL reaches disk (synchronous_commit=off). A crash can lose the last
    few hundred milliseconds of processing, never the inbox (which the receiver commits
    durably); the lost rows are simply pending again and the sweeper re-drives them.
    `statement_timeout_ms`: PostgreSQL cancels any statement of these connections running
    longer (the inbox writer's, whose requests stop waiting by then)."""
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args: dict[str, object] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    options = [] if durable else ["-c synchronous_commit=off"]
    if statement_timeout_ms:
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    if options:
        connect_args["options"] = " ".join(options)
    # No pre-ping: it costs a round trip per transaction. A connection broken by a database
    # restart fails one transaction, which is retried (worker) or answered 503 (receiver).
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        connect_args=connect_args,
        # Errors quote their statement's parameters, which hold addresses and phone
        # numbers; Dramatiq logs errors, and logs must carry neither.
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the web process read while a worker thread writes; foreign keys are off by
    default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Let SQLAlchemy's "begin" event issue the BEGIN, so it can be an IMMEDIATE one.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection) -> None:
    """Take the write lock at BEGIN: a read-modify-write that upgrades later would fail with
    SQLITE_BUSY_SNAPSHOT when another thread committed in between."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def snapshot(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only session whose queries all see the database as of its first one: what a
    document built from several queries (an order, its parcels, history and messages) must
    be read in. Under PostgreSQL's default READ COMMITTED each query would see its own
    moment, and an event committed between two of them would show in one part of the
    document and not in another (a status older than the history beside it). So this is
    one REPEATABLE READ, READ ONLY transaction there. SQLite already reads a transaction
    from one snapshot (and its transactions here take the write lock at BEGIN)."""
    with sessions() as session:
        if is_postgres(session.get_bind()):
            session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        yield session


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
