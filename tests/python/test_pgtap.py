"""The access rules as pgTAP tests (supabase/tests/database/), run by pg_prove as `supabase test db`
runs them: as postgres, on a deployed and built database. They need pgTAP in the server and
pg_prove on the machine (Debian: postgresql-15-pgtap, libtap-parser-sourcehandler-pgtap-perl);
CI sets AGENT_ANALYTICS_REQUIRE_PGTAP=1 where it installs them, so there they cannot be skipped."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import PROJECT

TESTS = sorted((PROJECT / "supabase" / "tests" / "database").glob("*.test.sql"))


def test_the_pgtap_access_tests_pass_under_pg_prove(built):
    available = built.value("select count(*) from pg_available_extensions where name = 'pgtap'")
    missing = [what for what, there in (("pg_prove", shutil.which("pg_prove")), ("the pgtap extension", available))
               if not there]
    if missing:
        if os.environ.get("AGENT_ANALYTICS_REQUIRE_PGTAP") == "1":
            pytest.fail(f"{' and '.join(missing)} missing, and this run must run the pgTAP tests")
        pytest.skip(f"{' and '.join(missing)} not installed")
    assert TESTS
    # Supabase's dashboard enables extensions as the platform; postgres cannot create pgtap itself.
    with built.connect_as("supabase_admin") as conn:
        conn.execute("create extension if not exists pgtap with schema extensions")
    result = subprocess.run(
        ["pg_prove", "--verbose", *map(str, TESTS)],
        env={**os.environ, **built.target.env()}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All tests successful" in result.stdout
