"""The worker: one long-running process that runs the whole schedule (docs/worker.md)."""
