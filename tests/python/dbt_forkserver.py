"""dbt for the test session without paying for its import each time: a server process imports
dbt once, then forks a child per invocation, which runs dbt's own command line (what the `dbt`
script runs: `dbt.cli.main.cli`) with the invocation's arguments, environment and working
folder, its stdout and stderr captured. Each invocation is still a process of its own that
starts from nothing but the imported modules, so dbt keeps no state between invocations.

The test session sends agent_analytics.dbt.run_dbt's captured runs here (conftest.py); any
other run (not captured, another executable) goes to subprocess.run as before. Starting dbt
(importing dbt-core, the postgres adapter and agate) costs about 3 s of CPU per invocation on
this machine's cores, and a session runs dbt about a hundred times.

A test database's first dbt run parses the whole project (about 10 s of CPU here, 3 s a partial
parse): dbt keeps its parse per target folder and parses again when the connection's database
differs, and every test database is a database of its own. With PARSE_SEED set (conftest.py: a
parse of the session's template database), a run whose target folder has no parse yet starts
from that one, its database names moved to the run's own (seeded_parse), when the connection
differs from the seed's in nothing else; dbt's own checks then take it as a partial parse of
an unchanged project. test_conftest.py checks that the result equals a full parse.

Run as a script: `python dbt_forkserver.py SOCKET` serves until its stdin closes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

_HEADER = struct.Struct("!Q")
# The environment variable naming the partial_parse.msgpack files (os.pathsep between them) that
# a run's parse may start from.
PARSE_SEED = "AA_TEST_DBT_PARSE_SEED"


def _send(conn: socket.socket, payload: dict) -> None:
    data = json.dumps(payload).encode()
    conn.sendall(_HEADER.pack(len(data)) + data)


def _receive(conn: socket.socket) -> dict:
    def exactly(size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = conn.recv(size - len(chunks))
            if not chunk:
                raise ConnectionError("the dbt fork server closed the connection")
            chunks += chunk
        return bytes(chunks)

    (size,) = _HEADER.unpack(exactly(_HEADER.size))
    return json.loads(exactly(size))


def _run_one(conn: socket.socket) -> None:
    """In the forked child: one dbt invocation as the `dbt` script makes it, then exit."""
    request = _receive(conn)
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    code = 1
    try:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["argv"][0], *request["argv"][1:]]
        if request["env"].get(PARSE_SEED):
            seeded_parse([Path(seed) for seed in request["env"][PARSE_SEED].split(os.pathsep)])
        from dbt.cli.main import cli

        try:
            cli()  # click's standalone mode: exits with dbt's exit code
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported as the invocation's stderr
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        out.seek(0)
        err.seek(0)
        _send(conn, {"returncode": code, "stdout": out.read().decode(errors="replace"),
                     "stderr": err.read().decode(errors="replace")})
        conn.close()
        os._exit(0)


def seeded_parse(seeds: list[Path]) -> None:
    """In this process's dbt: a run whose target folder has no partial_parse.msgpack gets the
    first seed made with its connection, moved to the run's database (moved_to_database), before
    dbt reads it; when none was (another login, role, host or port), dbt parses as usual."""
    from dbt.constants import PARTIAL_PARSE_FILE_NAME
    from dbt.parser import manifest as manifest_module

    read_saved = manifest_module.ManifestLoader.read_manifest_for_partial_parse

    def read_seeded(loader):
        own = Path(loader.root_project.project_target_path) / PARTIAL_PARSE_FILE_NAME
        for seed in seeds if not own.exists() else ():
            moved = moved_to_database(seed.read_bytes(), loader) if seed.is_file() else None
            if moved is not None:
                own.parent.mkdir(parents=True, exist_ok=True)
                own.write_bytes(moved)
                break
        return read_saved(loader)

    manifest_module.ManifestLoader.read_manifest_for_partial_parse = read_seeded


def moved_to_database(saved: bytes, loader) -> bytes | None:
    """A saved parse (partial_parse.msgpack) of the project on another database, as a parse on
    the loader's: the database of every node, source and semantic model and the relation names
    that carry it, and the profile's hash. None if the saved one was made with another
    connection than the loader's apart from the database, or on several databases."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder

    manifest = Manifest.from_msgpack(saved, decoder=extended_mashumuro_decoder)
    databases = {node.database for node in (*manifest.nodes.values(), *manifest.sources.values())}
    if len(databases) != 1:
        return None
    (seeded,) = databases
    config = loader.root_project
    database = config.credentials.database
    own_credentials = config.credentials
    config.credentials = dataclasses.replace(own_credentials, database=seeded)
    try:
        as_seeded = loader.build_manifest_state_check()
    finally:
        config.credentials = own_credentials
    if as_seeded.profile_hash != manifest.state_check.profile_hash:
        return None
    old, new = f'"{seeded}".', f'"{database}".'
    for node in (*manifest.nodes.values(), *manifest.sources.values()):
        node.database = database
        if node.relation_name:
            node.relation_name = node.relation_name.replace(old, new, 1)
    for model in manifest.semantic_models.values():
        relation = model.node_relation
        if relation is not None:
            relation.database = database
            relation.relation_name = relation.relation_name.replace(old, new, 1)
    manifest.state_check.profile_hash = loader.manifest.state_check.profile_hash
    return manifest.to_msgpack(extended_mashumaro_encoder)


def serve(socket_path: str) -> None:
    import dbt.adapters.postgres  # noqa: F401 - imported once, here, for every child
    import dbt.cli.main  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(32)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                if not sys.stdin.buffer.read1(4096):  # the test session ended
                    return
                continue
            conn, _ = server.accept()
            if os.fork() == 0:
                selector.close()
                server.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _run_one(conn)
            conn.close()


class ForkServer:
    """The test session's side: start the server, send it invocations."""

    def __init__(self, folder: Path, cwd: Path) -> None:
        self.socket_path = str(folder / "dbt.sock")
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.socket_path], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        ready = self.process.stdout.readline()
        if ready.strip() != b"ready":
            self.close()
            raise RuntimeError("the dbt fork server did not start")

    def run(self, argv: list[str], cwd: str, env: dict[str, str]) -> tuple[int, str, str]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.socket_path)
            _send(conn, {"argv": argv, "cwd": cwd, "env": env})
            answer = _receive(conn)
        return answer["returncode"], answer["stdout"], answer["stderr"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Subprocess:
    """Stands in for the subprocess module in agent_analytics.dbt: run_dbt's captured dbt
    invocations go to the fork server, everything else to subprocess.run."""

    CompletedProcess = subprocess.CompletedProcess

    def __init__(self, server: ForkServer, dbt_executable: str) -> None:
        self.server = server
        self.dbt_executable = dbt_executable

    def run(self, command, *, cwd=None, env=None, text=False, capture_output=False, check=False, **kwargs):
        if (not capture_output or not text or kwargs or check or not command
                or str(command[0]) != self.dbt_executable):
            return subprocess.run(command, cwd=cwd, env=env, text=text, capture_output=capture_output, check=check,
                                  **kwargs)
        argv = [str(part) for part in command]
        env = dict(os.environ if env is None else env)
        # dbt's debug log file costs about a tenth of a tiny build's time, a hundred builds a
        # session, and nobody reads it: each captured run's own output is kept, and a failed one's end
        # is in the test's error. A developer who sets DBT_LOG_LEVEL_FILE gets the file back.
        env.setdefault("DBT_LOG_LEVEL_FILE", "none")
        code, out, err = self.server.run(argv, str(cwd or os.getcwd()), env)
        return subprocess.CompletedProcess(argv, code, out, err)


if __name__ == "__main__":
    serve(sys.argv[1])
