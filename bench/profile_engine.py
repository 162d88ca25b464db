"""Profile the in-process pipeline (bench/engine.py) with cProfile; print the top entries.

python bench/profile_engine.py --observations 200 --runs 300 --top 25
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import pipeline, request_body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args(argv)
    raw = request_body(args.observations)
    one = pipeline()
    for _ in range(10):
        one(raw)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.runs):
        one(raw)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    print(f"{args.runs} runs of the {args.observations}-Observation request, sorted by {args.sort}")
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
