"""The load script's moved clock (bench/moved_clock.py, bench/load_alone.py): the hour asked for
is the hour every process of the run reads, the server's included. The last test needs Debian's
faketime and skips without it, unless AGENT_ANALYTICS_REQUIRE_FAKETIME=1 (CI, which installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent_analytics import cluster, db
from agent_analytics.bench import load_alone, moved_clock


def test_a_time_of_day_is_read_as_utc_and_anything_else_is_refused_by_name() -> None:
    assert moved_clock.parse_time_of_day("22:00") == time(22, 0, tzinfo=UTC)
    assert moved_clock.parse_time_of_day(" 7:05") == time(7, 5, tzinfo=UTC)
    for bad in ("24:00", "22", "22:60", "10pm", ""):
        with pytest.raises(moved_clock.ClockError, match="is not a UTC time of day"):
            moved_clock.parse_time_of_day(bad)


def test_the_clock_only_moves_ahead_and_by_less_than_a_day() -> None:
    now = datetime(2026, 12, 6, 7, 10, 30, tzinfo=UTC)
    assert moved_clock.offset_to(time(22, 0, tzinfo=UTC), now) == timedelta(hours=14, minutes=49, seconds=30)
    # already past today: tomorrow's
    assert moved_clock.offset_to(time(7, 0, tzinfo=UTC), now) == timedelta(hours=23, minutes=49, seconds=30)
    assert moved_clock.offset_to(time(0, 0, tzinfo=UTC), now) == timedelta(hours=16, minutes=49, seconds=30)
    # a clock in another zone is read in UTC
    berlin = now.astimezone(ZoneInfo("Europe/Berlin"))
    assert moved_clock.offset_to(time(22, 0, tzinfo=UTC), berlin) == timedelta(hours=14, minutes=49, seconds=30)
    with pytest.raises(moved_clock.ClockError, match="only moves ahead"):
        moved_clock.moved_environment(timedelta(seconds=-1), {})


def test_the_scripts_arguments_keep_their_order_and_bad_ones_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    run = load_alone.parse(["large", "2", "1,8,32", "hourly_today_live,today_live", "docs/performance", "3",
                            "--at", "21:00"])
    assert run == load_alone.LoadRun("large", 2, (1, 8, 32), frozenset({"hourly_today_live", "today_live"}),
                                     Path("docs/performance"), 3, time(21, 0, tzinfo=UTC))
    assert load_alone.parse([]).queries is None and load_alone.parse([]).at is None
    for argv, named in ((["medium", "2", "8", "nope"], "no dashboard query named nope"),
                        (["medium", "2", "eight"], "clients 'eight'"),
                        (["medium", "0"], "at least 1"),
                        (["medium", "--at", "25:00"], "'25:00' is not a UTC time of day")):
        with pytest.raises(SystemExit):
            load_alone.parse(argv)
        assert named in capsys.readouterr().err


def test_the_clock_line_says_how_old_the_day_was_and_whether_the_clock_moved() -> None:
    started = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)
    line = load_alone.clock_line(started, started + timedelta(minutes=33), timedelta(hours=14, minutes=15))
    assert "21:30–22:03 UTC" in line and "moved 14.25 h ahead" in line and "21.5–22.1 hours old" in line
    assert "the machine's clock" in load_alone.clock_line(started, started, None)


def library_or_skip() -> Path:
    try:
        return moved_clock.library()
    except moved_clock.ClockError as error:
        if os.environ.get("AGENT_ANALYTICS_REQUIRE_FAKETIME") == "1":
            pytest.fail(f"{error}, and this run must run the tests that need it")
        pytest.skip(str(error))


def test_a_server_started_in_the_moved_environment_reads_the_moved_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole chain the script relies on: the moved environment reaches a child process, and
    PostgreSQL started from it (as the server's own user, by pg_ctl) answers now() with the
    moved time, while this process keeps the machine's."""
    library_or_skip()
    offset = timedelta(hours=9, minutes=30)
    environment = moved_clock.moved_environment(offset, os.environ)
    assert moved_clock.moved_by(environment) == offset and moved_clock.moved_by({}) is None
    child = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], env=environment,
                           capture_output=True, text=True, check=True)
    assert abs(float(child.stdout) - datetime.now(UTC).timestamp() - offset.total_seconds()) < 60

    for name in ("LD_PRELOAD", "FAKETIME"):
        monkeypatch.setenv(name, environment[name])
    folder = Path(tempfile.mkdtemp(prefix="aa-moved-clock-"))
    server = cluster.Cluster(cluster.binaries_named("machine" if cluster.machine_binaries() else "embedded"),
                             folder / "data", folder / "run", throwaway=True)
    try:
        server.create()
        with db.connect(server.server().admin) as conn:
            server_now = conn.execute("select now()").fetchone()[0]
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    assert abs((server_now - datetime.now(UTC) - offset).total_seconds()) < 60
