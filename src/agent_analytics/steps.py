"""One line per step of a long command, with its time: what `up` prints instead of every
tool's log (which --verbose shows). On a terminal a spinner names the step while it runs;
piped, nothing is printed until a step is done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from rich.console import Console


@dataclass
class Step:
    doing: str
    done: str = ""  # what the step's line says once it is over; set by the step's body


class Steps:
    def __init__(self, console: Console, spinner: bool) -> None:
        self.console = console
        self.spinner = spinner

    @contextmanager
    def step(self, doing: str) -> Iterator[Step]:
        """Run the block as a step; a step that raises prints no line (the error says enough)."""
        step = Step(doing)
        started = time.monotonic()
        with self.console.status(f"{doing}...") if self.spinner else nullcontext():
            yield step
        seconds = time.monotonic() - started
        self.console.print(f"  {step.done or doing} [dim]({seconds:.1f} s)[/]", highlight=False)
