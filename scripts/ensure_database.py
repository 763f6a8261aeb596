"""Create the PostgreSQL database a URL names, if it does not exist yet.

Usage: python scripts/ensure_database.py postgresql://user@host:port/name
"""

import sys

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url


def ensure_database(url):
    target = make_url(url)
    maintenance = psycopg2.connect(
        dbname="postgres",
        user=target.username,
        password=target.password,
        host=target.host,
        port=target.port,
        connect_timeout=10,
    )
    # CREATE DATABASE refuses a transaction block; `with connection` would open one
    # (psycopg2 2.9 does so even in autocommit), so only the cursor is a context.
    maintenance.autocommit = True
    try:
        with maintenance.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                           (target.database,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(
                    sql.Identifier(target.database)))
                print(f"created database {target.database}")
    finally:
        maintenance.close()


if __name__ == "__main__":
    ensure_database(sys.argv[1])
