"""Hypothesis profiles for the fuzz tests, and a count of the cases each one generated.

Registered from tests/conftest.py through `pytest_plugins`, so the profile is loaded before any
test module is imported. Two profiles:

- `ci` (the default, `make test`): derandomised (the same cases on every run, so a red build
  is reproducible and never flaky), no example database, and the per-test example counts the
  tests ask for; the whole fuzz part stays around a minute on a 2-core machine.
- `fuzz` (`make fuzz`, or `HYPOTHESIS_PROFILE=fuzz`): random seeds, an example database under
  `.hypothesis/` (failures are replayed first next time), and `FUZZ_EXAMPLES` cases per test
  (default 2000).

`FUZZ_EXAMPLES=<n>` overrides the per-test count under either profile. At the end of the run
the number of cases each fuzz test generated is printed ("fuzz cases generated").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_OVERRIDE = os.environ.get("FUZZ_EXAMPLES", "").strip()
FUZZ_DEFAULT_EXAMPLES = 2000

# Requests are made in-process or over loopback: timing varies with the machine's load, so no
# deadline; big generated bodies are the point, not a health problem.
_RELAXED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_RELAXED,
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=_RELAXED,
)
settings.load_profile(PROFILE)

# test node id -> cases generated (several properties in one test add up)
CASE_COUNTS: dict[str, int] = {}

T = TypeVar("T")


def examples(ci: int) -> int:
    """Cases for one property: `ci` under the ci profile, more under `fuzz`, or FUZZ_EXAMPLES."""
    if _OVERRIDE:
        return max(1, int(_OVERRIDE))
    return FUZZ_DEFAULT_EXAMPLES if PROFILE == "fuzz" else ci


def run_property(
    request: pytest.FixtureRequest,
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Any],
    *,
    ci_examples: int,
) -> int:
    """Run `check` on cases drawn from `strategy`; returns (and records) how many ran.

    The property runs inside the test rather than as a `@given` test, so function-scoped
    fixtures (an app, a store) are built once for all the cases of the test.
    """
    count = 0

    @settings(max_examples=examples(ci_examples))
    @given(strategy)
    def _property(case: T) -> None:
        nonlocal count
        count += 1
        check(case)

    _property()
    node = request.node.nodeid
    CASE_COUNTS[node] = CASE_COUNTS.get(node, 0) + count
    return count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the number of generated cases per fuzz test (the issue asks for the counts)."""
    if not CASE_COUNTS:
        return
    terminalreporter.section(f"fuzz cases generated (hypothesis profile {PROFILE})")
    for node, count in sorted(CASE_COUNTS.items()):
        terminalreporter.write_line(f"{count:7d}  {node}")
    terminalreporter.write_line(f"{sum(CASE_COUNTS.values()):7d}  in total")
