"""The worker's structured log: one JSON object per line on stdout, for journald, a log shipper
or jq; `message` is the same in words."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TextIO


class JsonLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: str, message: str, **fields: object) -> None:
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, "message": message}
        record.update({key: _plain(value) for key, value in fields.items() if value is not None})
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
