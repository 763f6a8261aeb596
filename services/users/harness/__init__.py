"""The one test harness every suite imports: the unit tests, tests/stack, tests/reliability
and bench/run.py.

Flask-free and stdlib first (psycopg2 only where a database connection is the point), so
that the stack's tools venv, which has neither, can import it too. One job per module:

- ports: a loopback port nobody listens on, and whether one is free.
- waiting: wait on a state, never on a sleep.
- processes: processes started in sessions of their own with their own logs, stopped
  with bounded waits; their workers and memory, read from /proc; running as another user.
- postgres: a throwaway PostgreSQL cluster of our own; scratch databases on a server by URL.
- http: one HTTP request at a time, on a connection of its own.
- servers: the service under gunicorn with its gunicorn.conf.py and ProductionConfig.
- load: reader and writer threads that record every answer.
- soak: the reliability soak's mixed load, in a process of its own.
"""
