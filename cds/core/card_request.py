"""What a card needs besides the assessment (who, where, which language), and the card uuids.
Pure."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from .i18n import ENGLISH, Translator
from .model import QueryCut


def time_ordered_uuids() -> Iterator[str]:
    """Version-7 UUIDs (RFC 9562 5.7): Unix milliseconds, then 74 random bits; time-ordered so
    the store's primary-key index grows at its end."""
    while True:
        millis = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = (millis << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64
        value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
        hexed = f"{value:032x}"
        yield f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


@dataclass(frozen=True)
class CardRequest:
    """What the cards need besides the assessment: who, where, in which language."""

    patient_id: str | None = None
    translator: Translator = ENGLISH
    smart_launch_url: str | None = None  # the red-flag check app's launch URL, when enabled
    reference_time: datetime | None = None  # an evaluation time the request asked for
    hook_instance: str | None = None
    unsatisfied_prefetch: tuple[str, ...] = ()
    incomplete_queries: tuple[QueryCut, ...] = ()
    new_uuid: Callable[[], str] = field(default_factory=lambda: time_ordered_uuids().__next__)
