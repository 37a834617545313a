"""One budget for a whole hook call, FHIR fetches included."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Deadline:
    at: float  # time.monotonic() value

    @classmethod
    def after_ms(cls, ms: int) -> Deadline:
        return cls(time.monotonic() + ms / 1000)

    def remaining(self) -> float:
        return self.at - time.monotonic()
