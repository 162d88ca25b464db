"""Median time of each stage of one patient-view request, in process, on a fresh parse each run.

    python bench/stages.py --runs 1000 [--observations 200] [--vitals-heavy]

Stages: the body and its prefetch values decoded in one pass (`cds.hook_body_fast`), envelope
schemas, prefetch flattening (`cds.fhir.prefetch`), reading (`cds.fhir.reading`), rules
(`core.engine`), plan and cards (`core.cards`), JSON out (`cds.wire` + msgspec), and freeing
the request's objects.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from bench.engine import request_body
from bench.generate import NOW
from cds import wire
from cds.config import Settings
from cds.core.card_request import CardRequest
from cds.core.cards import build_cards
from cds.core.engine import evaluate
from cds.fhir import reading
from cds.fhir.prefetch import read_prefetch
from cds.hook_body_fast import hook_members
from cds.schemas import load_hook_request
from cds.serving.server import configure_worker_gc

STAGES = ("parse", "schemas", "prefetch", "extract", "evaluate", "cards", "json out", "free")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--vitals-heavy", action="store_true")
    parser.add_argument(
        "--default-gc", action="store_true", help="CPython's GC settings, not the workers'"
    )
    args = parser.parse_args(argv)
    raw = request_body(args.observations, analytes_in_routine=args.vitals_heavy)
    settings = Settings.load({"evaluation_time": NOW.isoformat(), "auth_mode": "off"}, environ={})
    now = settings.evaluation_time or NOW
    samples: dict[str, list[int]] = {stage: [] for stage in STAGES}
    clock = time.perf_counter_ns
    if not args.default_gc:
        configure_worker_gc()
    encoder = msgspec.json.Encoder()
    for run in range(args.runs + 20):
        t0 = clock()
        body = hook_members(raw, settings)
        t1 = clock()
        request = load_hook_request(body, expected_hook="patient-view")
        t2 = clock()
        read = read_prefetch(request.prefetch)
        t3 = clock()
        extraction = reading.read(read.flattened, policy=settings.policy, now=now)
        t4 = clock()
        assessment = evaluate(extraction, policy=settings.policy)
        t5 = clock()
        built = build_cards(assessment, CardRequest(patient_id=request.patient_id))
        t6 = clock()
        encoder.encode(wire.cards(built))
        t7 = clock()
        card_count = len(built)
        # Freeing the request's ~30,000 parsed objects is part of every request; timed on its
        # own so it does not land in whichever stage drops the last reference next run.
        del body, request, read, extraction, assessment, built
        t8 = clock()
        if run < 20:
            continue
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6, t8 - t7)
        for stage, spent in zip(STAGES, spans, strict=True):
            samples[stage].append(spent)
    total = 0.0
    for stage in STAGES:
        median_us = statistics.median(samples[stage]) / 1000
        total += median_us
        print(f"{stage:<10} {median_us:8.1f} us")
    print(f"{'sum':<10} {total:8.1f} us  ({card_count} cards, {args.runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
