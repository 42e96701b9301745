"""The load script's moved clock (moved_clock.py, bench/load_alone.py): the hour asked for is
the hour the run's server reads. The last test needs Debian's faketime and skips without it,
unless AGENT_ANALYTICS_REQUIRE_FAKETIME=1 (CI, which installs it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent_analytics import cluster, db, moved_clock
from agent_analytics.bench import load_alone, report


def test_a_time_of_day_is_read_as_utc_and_anything_else_is_refused_by_name() -> None:
    assert moved_clock.parse_time_of_day("22:00") == time(22, 0, tzinfo=UTC)
    assert moved_clock.parse_time_of_day(" 7:05") == time(7, 5, tzinfo=UTC)
    for bad in ("24:00", "22", "22:60", "10pm", ""):
        with pytest.raises(moved_clock.ClockError, match="is not a UTC time of day"):
            moved_clock.parse_time_of_day(bad)


def test_a_weekday_may_come_before_the_time_and_a_bad_one_is_refused_by_name() -> None:
    assert moved_clock.parse_target("21:00") == moved_clock.ClockTarget(time(21, 0, tzinfo=UTC))
    for text in ("Mon 21:00", "monday 21:00", " MON  21:00 "):
        assert moved_clock.parse_target(text) == moved_clock.ClockTarget(time(21, 0, tzinfo=UTC), 0)
    assert moved_clock.parse_target("sun 0:30") == moved_clock.ClockTarget(time(0, 30, tzinfo=UTC), 6)
    assert str(moved_clock.parse_target("Thursday 21:00")) == "Thu 21:00 UTC"
    assert str(moved_clock.parse_target("21:00")) == "21:00 UTC"
    for bad, named in (("Mo 21:00", "'Mo' is not a weekday"), ("21:00 Mon", "is not a weekday: .* before the time"),
                       ("Monday", "is not a UTC time of day"),
                       ("Mon 25:00", "is not a UTC time of day"), ("Mon 21:00 UTC", "is not a UTC time of day")):
        with pytest.raises(moved_clock.ClockError, match=named):
            moved_clock.parse_target(bad)
    for weekday in (-1, 7):
        with pytest.raises(moved_clock.ClockError, match="is not one"):
            moved_clock.ClockTarget(time(21, 0, tzinfo=UTC), weekday)
    with pytest.raises(moved_clock.ClockError, match="not in UTC"):
        moved_clock.ClockTarget(time(21, 0, tzinfo=ZoneInfo("Europe/Berlin")))


def at(hour: int, minute: int = 0, weekday: int | None = None) -> moved_clock.ClockTarget:
    return moved_clock.ClockTarget(time(hour, minute, tzinfo=UTC), weekday)


def test_the_clock_only_moves_ahead_by_less_than_a_day_or_less_than_a_week_to_a_weekday() -> None:
    now = datetime(2026, 12, 6, 7, 10, 30, tzinfo=UTC)  # a Sunday
    assert moved_clock.offset_to(at(22), now) == timedelta(hours=14, minutes=49, seconds=30)
    # already past today: tomorrow's
    assert moved_clock.offset_to(at(7), now) == timedelta(hours=23, minutes=49, seconds=30)
    assert moved_clock.offset_to(at(0), now) == timedelta(hours=16, minutes=49, seconds=30)
    # a weekday: the first one from now on; today's own only while its hour is still ahead
    assert moved_clock.offset_to(at(22, weekday=6), now) == timedelta(hours=14, minutes=49, seconds=30)
    assert moved_clock.offset_to(at(7, weekday=6), now) == timedelta(days=6, hours=23, minutes=49, seconds=30)
    assert moved_clock.offset_to(at(21, weekday=0), now) == timedelta(days=1, hours=13, minutes=49, seconds=30)
    assert moved_clock.offset_to(at(1, weekday=0), now) == timedelta(hours=17, minutes=49, seconds=30)
    assert (now + moved_clock.offset_to(at(21, weekday=3), now)) == datetime(2026, 12, 10, 21, 0, tzinfo=UTC)
    # a clock in another zone is read in UTC: 23:30 UTC on a Sunday is already Monday in Berlin
    berlin = datetime(2026, 12, 6, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert berlin.weekday() == 0
    assert moved_clock.offset_to(at(23, 45, weekday=6), berlin) == timedelta(minutes=15)
    assert moved_clock.offset_to(at(22), now.astimezone(ZoneInfo("Europe/Berlin"))) == timedelta(
        hours=14, minutes=49, seconds=30)
    with pytest.raises(moved_clock.ClockError, match="only moves ahead"):
        moved_clock.moved_environment(timedelta(seconds=-1), {})


def test_a_server_clock_that_did_not_move_stops_the_run() -> None:
    now = datetime(2026, 12, 6, 7, 10, tzinfo=UTC)
    for offset in (timedelta(hours=14), timedelta(days=6, hours=23)):
        moved_clock.check_moved(now + offset + timedelta(seconds=20), offset, now)
        with pytest.raises(moved_clock.ClockError, match="did not move it"):
            moved_clock.check_moved(now, offset, now)
        # moved, but by a day less than asked: a weekday's target missed by a day is missed
        with pytest.raises(moved_clock.ClockError, match="did not move it"):
            moved_clock.check_moved(now + offset - timedelta(days=1), offset, now)


def test_without_libfaketime_the_script_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(moved_clock, "LIBRARY", Path("/nonexistent/libfaketime.so.1"))
    assert load_alone.main(["tiny", "1", "1", "today_live", "-", "1", "--at", "21:00"]) == 1
    assert "apt-get install faketime" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_written_stops_the_script_before_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def measure(run: load_alone.LoadRun) -> None:
        raise AssertionError("the run started with an output folder it cannot write")

    monkeypatch.setattr(load_alone, "measure", measure)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert load_alone.main(["tiny", "1", "1", "today_live", str(blocker / "out"), "1"]) == 1
    err = capsys.readouterr().err
    assert f"the output folder {blocker / 'out'} cannot be written to" in err
    assert blocker.read_text() == "not a folder"


def test_the_scripts_arguments_keep_their_order_and_bad_ones_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    expected = load_alone.LoadRun("large", 2, (1, 8, 32), frozenset({"hourly_today_live", "today_live"}),
                                  Path("docs/performance"), 3, at(21))
    assert load_alone.parse(["large", "2", "1,8,32", "hourly_today_live,today_live", "docs/performance", "3",
                             "--at", "21:00"]) == expected
    assert load_alone.parse(["large", "--at", "21:00", "2", "1,8,32", "hourly_today_live,today_live",
                             "docs/performance", "3"]) == expected
    assert load_alone.parse([]) == load_alone.LoadRun("medium", 5, (1, 8, 32), None, None, 3, None)
    assert load_alone.parse(["medium", "--at", "Mon 21:00"]).at == at(21, weekday=0)
    for argv, named in ((["medium", "2", "8", "nope"], "no dashboard query named nope"),
                        (["medium", "2", "eight"], "clients 'eight'"),
                        (["medium", "0"], "at least 1"),
                        (["medium", "--at", "25:00"], "'25:00' is not a UTC time of day"),
                        (["medium", "--at", "Someday 21:00"], "'Someday' is not a weekday")):
        with pytest.raises(SystemExit):
            load_alone.parse(argv)
        assert named in capsys.readouterr().err


def test_the_clock_line_says_how_old_the_day_was_and_when_the_load_crossed_midnight() -> None:
    data_end = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
    started = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)
    line = report.load_clock_line(data_end, started, started + timedelta(minutes=33), timedelta(hours=14, minutes=15),
                                  "start it earlier (--at)")
    assert "data end Sun 2026-12-06 21:00 UTC" in line and "Sun 2026-12-06 21:30 to Sun 2026-12-06 22:03 UTC" in line
    assert "moved 14.25 h ahead" in line and "21.5 to 22.1 hours old" in line and "crossed" not in line
    late = datetime(2026, 12, 6, 23, 50, tzinfo=UTC)
    crossing = report.load_clock_line(None, late, late + timedelta(minutes=20), None, "start it earlier (--at)")
    assert "(not moved)" in crossing and "23.8 to 0.2 hours old" in crossing and "data end" not in crossing
    assert "Sun 2026-12-06 23:50 to Mon 2026-12-07 00:10 UTC" in crossing
    assert "crossed 00:00 UTC" in crossing and "--at" in crossing


def test_a_cluster_with_a_clock_offset_answers_now_with_the_moved_time() -> None:
    """What the script relies on: the moved environment reaches the server started by pg_ctl as
    the server's own user, and now() answers the moved time, while this process keeps the
    machine's clock."""
    try:
        moved_clock.library()
    except moved_clock.ClockError as error:
        if os.environ.get("AGENT_ANALYTICS_REQUIRE_FAKETIME") == "1":
            pytest.fail(f"{error}, and this run must run the tests that need it")
        pytest.skip(str(error))
    offset = timedelta(hours=9, minutes=30)
    folder = Path(tempfile.mkdtemp(prefix="aa-moved-clock-"))
    server = cluster.Cluster(cluster.binaries_named("machine" if cluster.machine_binaries() else "embedded"),
                             folder / "data", folder / "run", throwaway=True, clock_offset=offset)
    try:
        server.create()
        server_now = db.server_now(server.server().admin)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    moved_clock.check_moved(server_now, offset, datetime.now(UTC))
    assert abs((server_now - datetime.now(UTC) - offset).total_seconds()) < 60
    assert "LD_PRELOAD" not in os.environ or str(moved_clock.LIBRARY) not in os.environ["LD_PRELOAD"]
