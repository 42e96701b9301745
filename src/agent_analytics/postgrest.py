"""What PostgREST does for each request, for the code that stands in for it: the benchmark's
members and service calls, and the tests of what an API caller may do.

PostgREST logs in as `authenticator` and, in one transaction per request, switches to the
role of the JWT with set_config, along with the claims (auth.uid() reads `sub`) and the
request's headers (the audit trail reads the client's address and user agent). The tests log
in as authenticator too; the benchmark, which has only the project's login, switches from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg


def impersonate(
    conn: psycopg.Connection, role: str, user_id: object | None = None, headers: Mapping[str, str] | None = None
) -> None:
    """The request's settings, local to the transaction `conn` is in: the role, the JWT claims
    (with `sub` for a signed-in user), the headers (lower-cased names) and the API's search path."""
    claims = {"role": role} if user_id is None else {"sub": str(user_id), "role": role}
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
        "set_config('request.headers', %s, true), set_config('search_path', 'public, analytics', true)",
        (role, json.dumps(claims), json.dumps(dict(headers or {}))),
    )


class _Rollback(Exception):
    pass


@contextmanager
def acting_as(
    conn: psycopg.Connection, role: str, user_id: object | None = None, headers: Mapping[str, str] | None = None,
    commit: bool = False,
) -> Iterator[psycopg.Connection]:
    """One request: a transaction with the request's settings, in which the caller runs its
    queries; rolled back afterwards unless `commit`, so that a test leaves nothing behind."""
    try:
        with conn.transaction():
            impersonate(conn, role, user_id, headers)
            yield conn
            if not commit:
                raise _Rollback
    except _Rollback:
        pass
