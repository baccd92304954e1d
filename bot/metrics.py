"""Counters and gauges rendered in the Prometheus text format for GET /metrics."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._gauges: dict[str, Callable[[], dict[tuple[tuple[str, str], ...], float]]] = {}
        self._read_types: dict[str, str] = {}
        self._help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] += amount

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def gauge(
        self,
        name: str,
        read: Callable[[], dict[tuple[tuple[str, str], ...], float]],
        text: str,
        metric_type: str = "gauge",
    ) -> None:
        """Register a metric read at scrape time; `read` returns values by label tuples.

        `metric_type` is "counter" for a value that only grows, such as a running total.
        """
        self._gauges[name] = read
        self._help[name] = text
        self._read_types[name] = metric_type

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
        by_name: dict[str, list[tuple[tuple[tuple[str, str], ...], float]]] = defaultdict(list)
        for (name, labels), value in counters.items():
            by_name[name].append((labels, value))
        for name in sorted(by_name):
            if name in self._help:
                lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} counter")
            for labels, value in sorted(by_name[name]):
                lines.append(f"{name}{_labels(labels)} {value:g}")
        for name, read in sorted(self._gauges.items()):
            try:
                values = read()
            except Exception:  # a scrape must not fail because one gauge could not be read
                continue
            lines.append(f"# HELP {name} {self._help.get(name, name)}")
            lines.append(f"# TYPE {name} {self._read_types.get(name, 'gauge')}")
            for labels, value in sorted(values.items()):
                lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels
    )
    return "{" + inner + "}"
