"""How long the dashboard's pages take to load and draw, at a scale (default medium), in Debian's
chromium: a throwaway cluster built like a Supabase database, generated data, a build, then
`agent-analytics dashboard` logged in as authenticator and each page opened a few times (the
first visit loads plotly.min.js, later ones take it from the browser's cache). Not a test: a
measurement for the README.

    AGENT_ANALYTICS_TEST_PG=/usr/lib/postgresql/15/bin PYTHONPATH=src .venv/bin/python \\
        tests/python/dashboard_timing.py [--scale medium]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from agent_analytics import bootstrap, cluster, db, dbt, generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(generate.SCALES), default="medium")
    parser.add_argument("--visits", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aa-dashboard-timing-"))
    binaries = cluster.binaries_named(os.environ.get("AGENT_ANALYTICS_TEST_PG") or "machine")
    server = cluster.Cluster(binaries, folder / "data", folder / "run", throwaway=True)
    try:
        server.create()
        made = cluster.create_supabase_database(server.server(), "aa_dashboard_timing")
        bootstrap.prepare_demo_database(made, ("--target-path", str(folder / "target")))
        started = time.monotonic()
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)
        with db.connect(made.admin) as conn:
            generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES[args.scale], seed=42, end=end))
        dbt.run_dbt(["build", "--target-path", str(folder / "target")], made.project, capture=True)
        print(f"{args.scale}: generated and built in {time.monotonic() - started:.0f} s", flush=True)
        measure(made.project, args.visits)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def measure(target: db.Connection, visits: int) -> None:
    from playwright.sync_api import sync_playwright

    with db.connect(target) as conn:
        email, workspace_id = conn.execute(
            "select u.email, m.workspace_id from public.workspace_members as m join public.users as u "
            "on u.id = m.user_id where m.role = 'owner' order by (select count(*) from public.agent_runs as r "
            "where r.workspace_id = m.workspace_id) desc limit 1").fetchone()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(dataclasses.replace(target, user="authenticator").env())
    process = subprocess.Popen([sys.executable, "-m", "agent_analytics.cli", "dashboard", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()).group(0)
        pages = {"index (operator)": "/", "platform": "/platform",
                 "busiest workspace, as its owner": f"/workspace/{workspace_id}?as={quote(email)}"}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            context = browser.new_context()
            page = context.new_page()
            for name, path in pages.items():
                seconds, server = [], []
                for _ in range(visits):
                    started = time.monotonic()
                    page.goto(url + path)
                    if path != "/":
                        page.wait_for_selector("body[data-charts-drawn]")
                    seconds.append(time.monotonic() - started)
                    # the page's own request: from sending it to its last byte (the queries and the HTML)
                    server.append(page.evaluate(
                        "(() => { const n = performance.getEntriesByType('navigation')[0]; "
                        "return (n.responseEnd - n.requestStart) / 1000; })()"))
                print(f"{name}: first {seconds[0]:.2f} s, then median {statistics.median(seconds[1:]):.2f} s "
                      f"(loaded and every chart drawn), of which the server's answer {statistics.median(server[1:]):.2f} s",
                      flush=True)
            browser.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
