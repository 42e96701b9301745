"""`agent-analytics bench`: dashboard queries, builds, refreshes, storage and ingestion, ours
beside the spec's naive SQL on the same data, in a database of the benchmark's own.

The data comes from the generator. With --keep the generated database is kept (never built)
and the next run at the same scale copies it instead of generating again.

One module a job: data.py prepares the database a run measures; builds.py, maintenance.py
(aggregation, refreshes, retention), baseline.py (the spec's SQL), queries.py and plans.py
(the dashboard queries and their plans), indexes.py, storage.py and ingestion.py measure;
run.py puts them in order; results.py holds what they measured, which report.py and plots.py
write out.
"""

from agent_analytics.bench import report
from agent_analytics.bench.options import BenchError, BenchOptions
from agent_analytics.bench.results import BenchResults
from agent_analytics.bench.run import run

__all__ = ["BenchError", "BenchOptions", "BenchResults", "report", "run"]
