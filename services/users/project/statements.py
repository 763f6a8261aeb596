"""Constant Core statements, run on the driver's cursor of a pooled connection.

`Connection.execute` builds an execution context and a `Result` around the driver's own
`cursor.execute` every time: for the API's one-row reads and writes that was about a
third of a request's CPU (docs/benchmarks.md). The API's statements never change, so
`Statement` has SQLAlchemy compile each once per driver and keeps what the execution
context would work out on every call: the SQL, the parameters' order, the columns'
scalar defaults and the types' conversions. `pooled_cursor` runs them on a connection
from the engine's pool (`Engine.raw_connection`, SQLAlchemy's documented way to the
driver), and what fails leaves as the exception `Connection.execute` would raise, a
connection the server dropped leaving the pool.
"""

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError


class Statement:
    """A Core statement (`clause`) compiled once for each driver it runs on."""

    def __init__(self, clause):
        self.clause = clause
        self.by_dialect = {}

    def compiled(self, dialect):
        # The driver and its paramstyle decide the SQL, not only the database.
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        found = self.by_dialect.get(key)
        if found is None:
            found = self.by_dialect[key] = DriverSQL.compile(self.clause, dialect)
        return found


@dataclass(frozen=True)
class DriverSQL:
    """What the driver needs to run a statement, and to turn its rows into dicts."""

    sql: str
    positions: tuple | None  # parameter names in order, for drivers that take them so
    defaults: dict  # for the parameters a call leaves out, converted for the driver
    bind_processors: dict
    make_row: object  # a row's values in, the row as a dict out
    result_processors: tuple

    @classmethod
    def compile(cls, clause, dialect):
        compiled = clause.compile(dialect=dialect)
        prefetched = [*compiled.insert_prefetch, *compiled.update_prefetch]
        binds = compiled.binds
        if (any(not column.default.is_scalar for column in prefetched)
                or any(bind.callable for bind in binds.values())):
            raise ValueError(f"Only fixed values can be run on the cursor: {clause}")
        columns = clause.selected_columns if clause.is_select else ()
        bind_processors = {
            name: processor for name, bind in binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        }
        # Values the statement holds (SQLite's OFFSET 0) and the columns' defaults.
        defaults = {**{name: bind.value for name, bind in binds.items() if not bind.required},
                    **{column.key: column.default.arg for column in prefetched}}
        return cls(
            sql=str(compiled),
            positions=tuple(compiled.positiontup) if compiled.positional else None,
            # Converted once here; a call's own values are converted as they come.
            defaults={name: bind_processors[name](value) if name in bind_processors else value
                      for name, value in defaults.items()},
            bind_processors=bind_processors,
            make_row=row_builder(tuple(column.key for column in columns)),
            result_processors=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ),
        )

    def parameters(self, given):
        values = {**self.defaults, **given}
        for name, processor in self.bind_processors.items():
            if name in given:
                values[name] = processor(given[name])
        if self.positions is not None:
            return tuple(values[name] for name in self.positions)
        return values

    def as_dicts(self, rows):
        make_row, processors = self.make_row, self.result_processors
        if any(processors):
            rows = ([value if convert is None else convert(value)
                     for convert, value in zip(processors, row)] for row in rows)
        return [make_row(row) for row in rows]


def row_builder(keys):
    """Return a function that turns a row's values into a dict with `keys`.

    A dict display compiled once for the statement's columns, as `namedtuple` compiles
    its classes: it builds each row in about half the time `dict(zip(keys, row))` takes,
    which was the largest part of what listing users cost beyond a bare Flask app.
    """
    items = ", ".join(f"{key!r}: row[{index}]" for index, key in enumerate(keys))
    # The keys are the statement's own column names, shown with repr: no outside text.
    return eval(f"lambda row: {{{items}}}")


class Cursor:
    """A driver cursor that runs `Statement`s and returns their rows as dicts."""

    def __init__(self, dbapi_cursor, dialect, prefix):
        self.dbapi_cursor = dbapi_cursor
        self.dialect = dialect
        self.prefix = prefix
        self.sql = None

    def run(self, statement, **params):
        """Run `statement` with `params`; return its rows (none for a write) as dicts."""
        driver_sql = statement.compiled(self.dialect)
        self.sql = driver_sql.sql
        self.dbapi_cursor.execute(self.prefix + driver_sql.sql, driver_sql.parameters(params))
        if self.dbapi_cursor.description is None:
            return []
        return driver_sql.as_dicts(self.dbapi_cursor.fetchall())


class PerBlock:
    """Lend a connection of `engine`'s pool for each block and take it back after it."""

    def __init__(self, engine):
        self.dialect = engine.dialect
        self.lend = engine.raw_connection

    @staticmethod
    def take_back(connection):
        connection.close()


def pooled_cursor(engine, prefix=""):
    """Return a `BlockCursor` on connections of `engine`'s pool, one for each block."""
    return BlockCursor(PerBlock(engine), prefix)


class BlockCursor:
    """A `Cursor` for one `with` block, on a connection `connections` lends; the block
    that ends well is committed.

    `connections` has the `dialect`, `lend()` a pooled connection, and `take_back()` one.

    With a `prefix` (statements ending in "; "), every statement is sent after it, in
    one string: on a connection that autocommits, PostgreSQL runs the two as one
    implicit transaction, so `SET LOCAL` there applies to that statement alone, in the
    same round trip.

    The driver's errors leave as SQLAlchemy's (`IntegrityError`, `OperationalError`, ...),
    as `Connection.execute` raises them; a connection they show to be lost is invalidated
    so that the pool does not hand it out again. A class rather than `contextmanager`:
    every API request opens one, and need not pay for a generator and its wrapper.
    """

    __slots__ = ("connections", "prefix", "connection", "cursor")

    def __init__(self, connections, prefix=""):
        self.connections = connections
        self.prefix = prefix
        self.connection = self.cursor = None

    def __enter__(self):
        try:
            self.connection = self.connections.lend()
            # The pooled connection's own `cursor()` hands this on, through one more call.
            self.cursor = Cursor(self.connection.dbapi_connection.cursor(),
                                 self.connections.dialect, self.prefix)
        except BaseException as error:
            self.__exit__(type(error), error, None)
            raise
        return self.cursor

    def __exit__(self, error_type, error, traceback):
        try:
            if error is not None:
                if isinstance(error, self.connections.dialect.loaded_dbapi.Error):
                    raise self.as_sqlalchemy_error(error) from error
            elif not autocommits(self.connection):
                self.commit()
        finally:
            if self.cursor is not None:
                self.cursor.dbapi_cursor.close()
            if self.connection is not None:
                self.connections.take_back(self.connection)

    def commit(self):
        try:
            self.connection.commit()
        except self.connections.dialect.loaded_dbapi.Error as error:
            raise self.as_sqlalchemy_error(error) from error

    def as_sqlalchemy_error(self, error):
        return as_sqlalchemy_error(error, self.connections.dialect, self.connection,
                                   self.cursor)


def autocommits(connection):
    """Say whether the driver commits each statement of `connection` by itself.

    Then there is nothing left to commit, and psycopg2's `commit()` would still give up
    the GIL (twice) to find that out: under gunicorn's threads that cost every request.
    `is True`: Python 3.12's sqlite3 has a truthy `autocommit` for its legacy mode.
    """
    return getattr(connection.dbapi_connection, "autocommit", None) is True


def as_sqlalchemy_error(error, dialect, connection, cursor):
    lost = connection is not None and dialect.is_disconnect(
        error, connection.dbapi_connection, cursor and cursor.dbapi_cursor)
    if lost:
        connection.invalidate(error)
    # Parameters hold emails: like the engines (hide_parameters), errors do not show them.
    return DBAPIError.instance(cursor and cursor.sql, None, error, dialect.loaded_dbapi.Error,
                               hide_parameters=True, connection_invalidated=lost,
                               dialect=dialect)
