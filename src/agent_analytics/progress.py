"""How long-running work reports how far it is: the generator, the naive baseline and the
benchmark call one callback, which the CLI draws as progress bars."""

from __future__ import annotations

from collections.abc import Callable

# progress(stage, done, total, rows): total is None when unknown; rows is what the stage has
# written (or run) so far, for a rate.
Progress = Callable[[str, int, int | None, int], None]


def quiet(_stage: str, _done: int, _total: int | None, _rows: int) -> None:
    """Progress that goes nowhere: for callers without a display (tests, scripts)."""
