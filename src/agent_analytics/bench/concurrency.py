"""The dashboard queries under concurrent load: pgbench's clients, each transaction a request
as PostgREST makes it (one transaction: the role, the JWT claims and the headers set with
set_config, then the query), for ours as a member, ours as service_role and naive, at several
client counts, with the simple protocol (Supabase's transaction pooler) and with prepared
statements (PostgREST's default)."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from agent_analytics import cluster
from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.live_snapshot import live_snapshot_taken
from agent_analytics.bench.options import LOAD_CLIENTS, BenchError
from agent_analytics.bench.queries import DashboardQuery, become
from agent_analytics.bench.results import LoadResults, LoadTiming, summary
from agent_analytics.db import DatabaseUnavailable
from agent_analytics.progress import Progress

PROTOCOLS = ("simple", "prepared")
# (side, role, schema): who asks, of which schema
CALLERS = (("ours", "member", "analytics"), ("ours", "service", "analytics"), ("naive", "service", "naive"))
# A schema of the benchmark's own: the app's public schema is not ours to write.
PARAMETERS_SCHEMA = "bench_load"
# The parameters a query may name, and their types in the parameters table.
PARAMETER_TYPES = {
    "workspace_id": "uuid", "user_id": "uuid", "agent_id": "uuid", "session_id": "uuid",
    "session_from": "timestamptz", "session_to": "timestamptz", "since_1d": "timestamptz", "since_7d": "timestamptz",
    "until": "timestamptz",
}


def find_pgbench() -> tuple[str, dict[str, str]]:
    """pgbench and the environment it runs in: the machine's PostgreSQL, else the embedded one's."""
    found = cluster.machine_binaries()
    if found is not None and (found.bin_dir / "pgbench").exists():
        return found.tool("pgbench"), found.env()
    try:
        embedded = cluster.embedded_binaries()
        return embedded.tool("pgbench"), embedded.env()
    except DatabaseUnavailable:
        pass
    on_path = shutil.which("pgbench")
    if on_path:
        return on_path, {}
    raise BenchError("the concurrency section needs pgbench: install PostgreSQL's client tools or the embedded extra")


def store_parameters(conn: psycopg.Connection, parameters: list[dict]) -> None:
    """The sampled parameters as a table each pgbench transaction picks a row of, readable by
    the login only (the row is read before the transaction switches role)."""
    columns = [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in PARAMETER_TYPES.items()]
    schema = sql.Identifier(PARAMETERS_SCHEMA)
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(schema))
    conn.execute(sql.SQL("create schema {}").format(schema))
    conn.execute(sql.SQL("create table {}.parameters (i integer primary key, {})").format(
        schema, sql.SQL(", ").join(columns)))
    with conn.cursor() as cursor, cursor.copy(sql.SQL("copy {}.parameters from stdin").format(schema)) as copy:
        for index, params in enumerate(parameters, start=1):
            copy.write_row([index, *(params[name] for name in PARAMETER_TYPES)])


def script(conn: psycopg.Connection, query: DashboardQuery, role: str, schema: str, protocol: str,
           count: int) -> str:
    """One pgbench transaction: a sampled row of parameters read with the request's settings
    (as PostgREST sends them, in one statement), then the query with them."""
    text = query.statement(schema, role).as_string(conn)
    named = sorted(set(re.findall(r"%\((\w+)\)s", text)))
    unknown = [name for name in named if name not in PARAMETER_TYPES]
    if unknown:
        raise BenchError(f"dashboard query {query.name} names parameters the load test lacks: {', '.join(unknown)}")
    # pgbench puts a variable's text in place under the simple protocol, and sends it as a
    # parameter under the extended ones: quoted for the first, bare for the others.
    fetched = [
        (sql.SQL("quote_literal(p.{0}) as {0}") if protocol == "simple" else sql.SQL("p.{0}")).format(
            sql.Identifier(name)).as_string(conn)
        for name in named
    ]
    pg_role = "authenticated" if role == "member" else "service_role"
    claims = ("json_build_object('sub', p.user_id, 'role', 'authenticated')::text" if role == "member"
              else "'{\"role\": \"service_role\"}'")
    body = re.sub(r"%\((\w+)\)s", r":\1", text).replace("%%", "%")
    settings = (
        f"select set_config('role', '{pg_role}', true), set_config('request.jwt.claims', {claims}, true), "
        "set_config('request.headers', '{}', true), set_config('search_path', 'public, analytics', true)"
        + "".join(f", {column}" for column in fetched)
        + f" from {PARAMETERS_SCHEMA}.parameters as p where p.i = :i"
    )
    return "\n".join([
        f"\\set i random(1, {count})",
        "begin;",
        settings + (" \\gset" if fetched else ";"),
        " ".join(body.split()) + ";",
        "commit;",
        "",
    ])


# A request slower than this is not put under load: pgbench ends a cell only when its requests
# in flight end, so one taking minutes (naive's activation_weekly at large) holds every cell up.
PROBE_LIMIT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class RequestProbe:
    """A request run once per sampled parameter row before it is put under load: the median rows
    it returns (None when unknown), and the limit a request ran past, if one did (it is then not
    put under load)."""

    rows: float | None
    timed_out_after_s: float | None = None


def rows_returned(conn: psycopg.Connection, query: DashboardQuery, role: str, schema: str,
                  parameters: list[dict], sample: int = 9,
                  limit_seconds: float = PROBE_LIMIT_SECONDS) -> RequestProbe:
    """The median rows the request returns over the first `sample` sampled parameters, as that
    caller: a throughput means little for a request that answers nothing (naive's tables that
    nothing fills, its event table that members cannot read). Unknown when it cannot run (a view
    never filled: pgbench says so); `timed_out_after_s` when a request runs past `limit_seconds`."""
    statement = query.statement(schema, role)
    counts = []
    for params in parameters[:sample]:
        try:
            with conn.transaction():
                become(conn, role, params["user_id"])
                conn.execute("select set_config('statement_timeout', %s, true)", (f"{round(limit_seconds * 1000)}ms",))
                counts.append(len(conn.execute(statement, params).fetchall()))
        except psycopg.errors.ObjectNotInPrerequisiteState:
            return RequestProbe(rows=None)
        except psycopg.errors.QueryCanceled:
            return RequestProbe(rows=None, timed_out_after_s=limit_seconds)
        except psycopg.Error as error:
            raise BenchError(f"dashboard query {query.name} failed as {role} on {schema}: {error}") from error
    return RequestProbe(rows=statistics.median(counts) if counts else None)


@dataclasses.dataclass(frozen=True)
class PgbenchRun:
    """One pgbench run: its TPS and each transaction's latency (s), or why it could not run."""

    tps: float | None
    latencies: list[float]
    unavailable: str | None = None


def run_pgbench(pgbench: tuple[str, dict[str, str]], bench: RunDatabase, script_text: str, clients: int,
                protocol: str, seconds: float, transactions: int | None = None) -> PgbenchRun:
    """pgbench for `seconds` (or `transactions` per client) with `clients` clients."""
    binary, env = pgbench
    target = bench.target
    with tempfile.TemporaryDirectory(prefix="aa-load-") as folder:
        script_file = Path(folder) / "request.sql"
        script_file.write_text(script_text, encoding="utf-8")
        command = [
            binary, "--no-vacuum", f"--protocol={protocol}", f"--client={clients}", f"--jobs={min(clients, 2)}",
            f"--transactions={transactions}" if transactions else f"--time={max(1, round(seconds))}",
            "--log", f"--log-prefix={Path(folder) / 'tx'}",
            f"--file={script_file}", f"--host={target.host}", f"--port={target.port}",
            f"--username={target.user}", target.dbname,
        ]
        if target.password:
            env = {**env, "PGPASSWORD": target.password}
        if target.sslmode:
            env = {**env, "PGSSLMODE": target.sslmode}
        done = subprocess.run(command, capture_output=True, text=True, env=env or None, check=False)
        if done.returncode != 0:
            error = " ".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-3:])
            unpopulated = re.search(r'materialized view "[^"]+" has not been populated', error)
            if unpopulated:  # naive's view that the run could not fill (as in the dashboard section)
                return PgbenchRun(tps=None, latencies=[], unavailable=unpopulated.group(0))
            raise BenchError(f"pgbench failed ({clients} clients, {protocol}): {error}")
        latencies = [
            int(line.split()[2]) / 1e6
            for log in Path(folder).glob("tx.*")
            for line in log.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    tps = re.search(r"^tps = ([\d.]+)", done.stdout, flags=re.M)
    return PgbenchRun(tps=float(tps.group(1)) if tps else None, latencies=latencies)


def combined(runs: list[PgbenchRun], probe: RequestProbe) -> LoadTiming:
    """A cell's figures over its rounds: the median TPS, the latencies of every transaction (none
    when the probe found a request too slow to put under load)."""
    if probe.timed_out_after_s is not None:
        return LoadTiming(tps=None, latency=summary([], unit="ms"), timed_out_after_s=probe.timed_out_after_s)
    unavailable = next((run.unavailable for run in runs if run.unavailable), None)
    if unavailable:
        return LoadTiming(tps=None, latency=summary([], unit="ms"), unavailable=unavailable)
    rates = [run.tps for run in runs if run.tps is not None]
    return LoadTiming(tps=round(statistics.median(rates), 1) if rates else None,
                      latency=summary([latency for run in runs for latency in run.latencies], unit="ms"),
                      rows_median=probe.rows)


def concurrency(bench: RunDatabase, queries: Sequence[DashboardQuery], parameters: list[dict], seconds: float,
                progress: Progress, clients: Sequence[int] = LOAD_CLIENTS, protocols: Sequence[str] = PROTOCOLS,
                transactions: int | None = None, rounds: int = 1,
                probe_limit_seconds: float = PROBE_LIMIT_SECONDS) -> LoadResults:
    """Each query's load figures: [query][caller (ours-member, ours-service, naive)][protocol][clients];
    each cell runs `rounds` times for `seconds` (or `transactions` per client), the callers
    taking turns, so that a drift in the machine's speed (a third from day to day on the
    machines this was measured on, and seconds-long dips) falls on every caller alike. A caller
    whose request runs past `probe_limit_seconds` once is not put under load: its cells say so.
    While a query that reads the live snapshot is probed and under load, the snapshot is taken
    every 30 s beside it, as the worker's `live` step takes it."""
    pgbench = find_pgbench()
    results: LoadResults = {}
    steps = sum(len(protocols) * len(clients) * rounds * sum(1 for _, role, _ in CALLERS if role in query.roles)
                for query in queries)
    done = 0
    with bench.connect() as conn:
        store_parameters(conn, parameters)
        try:
            for query in queries:
                callers = [(f"{side}-{role}" if side == "ours" else side, role, schema)
                           for side, role, schema in CALLERS if role in query.roles]
                with live_snapshot_taken(bench) if query.live_snapshot else contextlib.nullcontext():
                    probes = {caller: rows_returned(conn, query, role, schema, parameters,
                                                    limit_seconds=probe_limit_seconds)
                              for caller, role, schema in callers}
                    for protocol in protocols:
                        texts = {caller: script(conn, query, role, schema, protocol, len(parameters))
                                 for caller, role, schema in callers}
                        for count in clients:
                            runs: dict[str, list[PgbenchRun]] = {caller: [] for caller in texts}
                            for _ in range(rounds):
                                for caller, text in texts.items():
                                    if probes[caller].timed_out_after_s is None:
                                        runs[caller].append(run_pgbench(pgbench, bench, text, count, protocol,
                                                                        seconds, transactions))
                                    done += 1
                                    progress("dashboard queries under load", done, steps, done)
                            for caller, made in runs.items():
                                results.setdefault(query.name, {}).setdefault(caller, {}).setdefault(protocol, {})[
                                    str(count)] = combined(made, probes[caller])
        finally:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(PARAMETERS_SCHEMA)))
    return results
