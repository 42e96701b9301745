"""The tools connect encrypted, and a server that accepts only TLS refuses plaintext.

Starts a throwaway PostgreSQL of its own (the machine's server binaries) with a self-signed
certificate and `hostssl`-only access on a free loopback port, and stops it afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agent_analytics import db


def server_binaries() -> Path | None:
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(directory, "initdb").exists():
            return Path(directory)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_as_server_user(command: list[str]) -> None:
    # initdb and postgres refuse to run as root; the machine's postgres account runs them then.
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tls_only_server() -> Iterator[int]:
    binaries = server_binaries()
    if binaries is None or shutil.which("openssl") is None:
        pytest.skip("needs PostgreSQL server binaries and openssl on this machine")
    # Not under pytest's tmp dir: the server's account must be able to reach it.
    home = Path(tempfile.mkdtemp(prefix="agent-analytics-tls-"))
    data = home / "data"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(home / "server.key"), "-out", str(home / "server.crt")],
        check=True, capture_output=True,
    )
    os.chmod(home / "server.key", 0o600)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        for item in home.iterdir():
            shutil.chown(item, "postgres")
    run_as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"])
    port = free_port()
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{home}'\n"
            f"ssl = on\nssl_cert_file = '{home / 'server.crt'}'\nssl_key_file = '{home / 'server.key'}'\n"
        )
    (data / "pg_hba.conf").write_text(
        "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n"
    )
    run_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "start"])
    try:
        yield port
    finally:
        run_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(home, ignore_errors=True)


def test_tools_connect_encrypted(tls_only_server):
    target = db.from_environment({"PGHOST": "127.0.0.1", "PGPORT": str(tls_only_server), "PGSSLMODE": "require"})
    with db.connect(target) as conn:
        encrypted, version = conn.execute(
            "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()
    assert encrypted and version.startswith("TLS")


def test_a_remote_host_gets_tls_without_being_told(tls_only_server):
    # Anything that is not this machine defaults to sslmode=require.
    target = db.from_environment({"PGHOST": "localhost.localdomain", "PGPORT": str(tls_only_server)})
    assert target.sslmode == "require"


def test_plaintext_is_refused(tls_only_server):
    with pytest.raises(psycopg.OperationalError, match="pg_hba.conf rejects|no encryption"):
        psycopg.connect(
            f"host=127.0.0.1 port={tls_only_server} user=postgres dbname=postgres sslmode=disable", connect_timeout=5
        )
