"""One queued message (a row of analytics.alert_notifications) and the facts every channel's
body says the same way: the headline, the numbers with their units."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CONDITION_SIGNS = {"greater_than": ">", "less_than": "<", "equals": "="}
EVENT_LABELS = {"firing": "FIRING", "renotify": "FIRING", "resolved": "RESOLVED"}


@dataclass(frozen=True)
class Notification:
    id: uuid.UUID  # the idempotency key: the same at every attempt
    alert_id: uuid.UUID
    workspace_id: uuid.UUID | None
    event: str
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int

    @property
    def rule_name(self) -> str:
        return _one_line(str(self.payload.get("rule_name") or "alert rule"))

    @property
    def metric(self) -> str:
        return str(self.payload.get("metric_type") or "metric")

    @property
    def workspace(self) -> str:
        name = self.payload.get("workspace_name")
        return _one_line(str(name)) if name else "all workspaces"

    def value_text(self) -> str:
        return with_unit(self.payload.get("value"), self.payload.get("unit"))

    def threshold_text(self) -> str:
        sign = CONDITION_SIGNS.get(str(self.payload.get("condition")), "?")
        return f"{sign} {with_unit(self.payload.get('threshold'), self.payload.get('unit'))}"

    def headline(self) -> str:
        """`[FIRING] Too many failures: failed_runs 12 runs > 10 runs`; a resolved alert says the
        value it came back to and the threshold it had crossed."""
        label = EVENT_LABELS.get(self.event, self.event.upper())
        if self.event == "resolved":
            return f"[{label}] {self.rule_name}: {self.metric} {self.value_text()} (was {self.threshold_text()})"
        return f"[{label}] {self.rule_name}: {self.metric} {self.value_text()} {self.threshold_text()}"


def number(value: Any) -> str:
    """Up to two decimals, without trailing zeros: 12, 12.5, 0.33."""
    if value is None:
        return "no value"
    try:
        rounded = Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return str(value)
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def with_unit(value: Any, unit: Any) -> str:
    if value is None:
        return "no value"
    if unit == "percent":
        return f"{number(value)}%"
    return f"{number(value)} {unit}" if unit else number(value)


def _one_line(text: str) -> str:
    # a rule's name ends up in a mail header, where a line break would start a new header
    return " ".join(text.split())
