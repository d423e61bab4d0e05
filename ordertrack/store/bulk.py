"""Many rows into one table in one statement, skipping those a unique index already holds,
with the columns asked for back: the delay check opens thousands of flags and queues their
news at a time.

On PostgreSQL the rows travel as one array per column through `unnest`, in the binary
format: a handful of parameters whatever the number of rows. SQLAlchemy's multi-row VALUES
(what insert_ignoring_duplicates gets elsewhere) sends a placeholder per value, and the
driver's parsing of a statement with tens of thousands of them cost more than the insert
itself; arrays in the text format cost seven times what binary ones do to build.
"""

from collections.abc import Mapping, Sequence

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from ordertrack.store.inbox import insert_ignoring_duplicates


def insert_ignoring_duplicates_returning(
    connection: Connection,
    table: Table,
    rows: Sequence[dict],
    returning: Sequence[str],
    same: Mapping[str, object] | None = None,
) -> list[tuple]:
    """Insert `rows` (dicts with the same keys), each with the columns in `same` too (one
    value for every row, sent once); for each row actually inserted, the values of the
    `returning` columns (in no promised order)."""
    if not rows:
        return []
    same = dict(same or {})
    if connection.dialect.name != "postgresql":
        statement = insert_ignoring_duplicates(connection, table).returning(
            *(table.c[name] for name in returning)
        )
        rows = [row | same for row in rows]
        return [tuple(row) for row in connection.execute(statement, rows)]
    return _postgres(connection, table, rows, returning, same)


def _postgres(connection: Connection, table: Table, rows, returning, same: dict) -> list[tuple]:
    dialect = connection.dialect

    def bound(name: str, values: list) -> list:
        bind = table.c[name].type.bind_processor(dialect)
        return [bind(value) for value in values] if bind else values

    def sql_type(name: str) -> str:
        return table.c[name].type.compile(dialect)

    names = list(rows[0])
    params = {f"c{i}": bound(name, [row[name] for row in rows]) for i, name in enumerate(names)}
    params |= {f"s{i}": bound(name, [value])[0] for i, (name, value) in enumerate(same.items())}
    arrays = ", ".join(f"CAST(%(c{i})b AS {sql_type(name)}[])" for i, name in enumerate(names))
    scalars = "".join(f", CAST(%(s{i})s AS {sql_type(name)})" for i, name in enumerate(same))
    listed = ", ".join(names)
    statement = (
        f"INSERT INTO {table.name} ({', '.join([*names, *same])}) "  # noqa: S608
        f"SELECT {listed}{scalars} FROM unnest({arrays}) AS u({listed}) "
        f"ON CONFLICT DO NOTHING RETURNING {', '.join(returning)}"
    )
    found = connection.exec_driver_sql(statement, params).all()
    for i, name in enumerate(returning):
        process = table.c[name].type.result_processor(dialect, None)
        if process is not None:
            found = [(*row[:i], process(row[i]), *row[i + 1 :]) for row in found]
    return [tuple(row) for row in found]
