"""The generator continues one world: appends never repeat a row and start where the last
stretch ended."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from agent_analytics import generate


def test_a_run_draws_the_same_randomness_whether_or_not_it_finished_before_the_end():
    world = generate.World(people=[], agents={"w": ["a1", "a2", "a3"]}, activity=1.0)
    started = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for seed in range(200):
        still_going, finished = random.Random(seed), random.Random(seed)
        run_cut = generate._run(still_going, world, "u", "w", started, until=started + timedelta(seconds=1))
        run_whole = generate._run(finished, world, "u", "w", started, until=started + timedelta(days=1))
        assert run_cut[0] == run_whole[0], "the run id must not depend on where the data ends"
        assert still_going.random() == finished.random(), "later draws must not depend on it either"


def test_appends_at_odd_moments_continue_from_the_remembered_end_without_repeating_a_row(make_database):
    project_db = make_database(seed=5)
    with project_db.connect() as conn:
        end = generate._remembered_settings(conn)["end"]
        assert datetime.fromisoformat(end) == project_db.data_end
        events_before = conn.execute("select count(*) from analytics.user_activity").fetchone()[0]
        for duration in (timedelta(minutes=37), timedelta(hours=1), timedelta(minutes=90), timedelta(days=1)):
            start = datetime.fromisoformat(generate._remembered_settings(conn)["end"])
            generate.append(conn, duration)
            assert datetime.fromisoformat(generate._remembered_settings(conn)["end"]) == start + duration
            # Only late events may fall before the stretch; nothing lies beyond it.
            latest = conn.execute(
                "select greatest((select max(created_at) from analytics.user_activity), "
                "(select max(started_at) from public.agent_runs))"
            ).fetchone()[0]
            assert latest < start + duration
        events, distinct_events = conn.execute(
            "select count(*), count(distinct id) from analytics.user_activity"
        ).fetchone()
        runs, distinct_runs = conn.execute("select count(*), count(distinct id) from public.agent_runs").fetchone()
    assert events > events_before
    assert events == distinct_events and runs == distinct_runs
