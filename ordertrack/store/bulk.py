"""Many rows into one table in one statement, skipping those a unique index already holds,
with the columns asked for back: the delay check opens thousands of flags and queues their
news at a time.

On PostgreSQL the rows travel as one array per column through `unnest`, in the binary
format: a handful of parameters whatever the number of rows. SQLAlchemy's multi-row VALUES
(what insert_ignoring_duplicates gets elsewhere) sends a placeholder per value, and the
driver's parsing of a statement with tens of thousands of them cost more than the insert
itself; arrays in the text format cost seven times what binary ones do to build.
"""

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from ordertrack.store.inbox import insert_ignoring_duplicates


def insert_ignoring_duplicates_returning(
    connection: Connection, table: Table, rows: Sequence[dict], returning: Sequence[str]
) -> list[tuple]:
    """Insert `rows` (dicts with the same keys); for each row actually inserted, the values
    of the `returning` columns (in no promised order)."""
    if not rows:
        return []
    if connection.dialect.name != "postgresql":
        statement = insert_ignoring_duplicates(connection, table).returning(
            *(table.c[name] for name in returning)
        )
        return [tuple(row) for row in connection.execute(statement, list(rows))]
    return _postgres(connection, table, rows, returning)


def _postgres(connection: Connection, table: Table, rows, returning) -> list[tuple]:
    dialect = connection.dialect
    names = list(rows[0])
    arrays = []
    for name in names:
        type_ = table.c[name].type
        bind = type_.bind_processor(dialect) or (lambda value: value)
        arrays.append([bind(row[name]) for row in rows])
    casts = ", ".join(
        f"CAST(%(c{i})b AS {table.c[name].type.compile(dialect)}[])" for i, name in enumerate(names)
    )
    listed = ", ".join(names)
    statement = (
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM unnest({casts}) "  # noqa: S608
        f"AS u({listed}) ON CONFLICT DO NOTHING RETURNING {', '.join(returning)}"
    )
    processors = [
        table.c[name].type.result_processor(dialect, None) or (lambda value: value)
        for name in returning
    ]
    result = connection.exec_driver_sql(statement, {f"c{i}": a for i, a in enumerate(arrays)})
    return [tuple(p(v) for p, v in zip(processors, row, strict=True)) for row in result]
