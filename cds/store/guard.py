"""Where database failures become `StoreUnavailable` (the one place), and the circuit breaker.

Every store call runs inside `failures_as_unavailable`, so callers see one exception whatever
went wrong below: the database down, locked past the busy timeout, read-only, full, missing its
tables, or refusing a value. The clinical path logs it and answers its cards; feedback and
reports answer 503 with Retry-After (cds-hooks.md "Feedback", "Errors").
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pybreaker
from sqlalchemy import exc as sa_exc

from ..errors import StoreUnavailable

log = logging.getLogger("cds.store")

# After a failed connection, connecting fails at once for this long before the next attempt.
RECONNECT_AFTER_S = 5.0

# The database cannot be used now: unreachable, locked, read-only, full, no pool slot free.
_OUTAGES: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    OSError,
)


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            log.warning("store circuit open: calls fail at once for %.0f s", cb.reset_timeout)
        elif new_state.name == pybreaker.STATE_CLOSED and old_state and old_state.name != "closed":
            log.info("store circuit closed: the database answers again")


def new_breaker(reset_timeout_s: float = RECONNECT_AFTER_S) -> pybreaker.CircuitBreaker:
    """Opens on the first failed connection; the original error is raised on that call."""
    return pybreaker.CircuitBreaker(
        fail_max=1,
        reset_timeout=reset_timeout_s,
        throw_new_error_on_trip=False,
        listeners=[_LogStateChanges()],
        name="calf-cds store",
    )


@contextmanager
def failures_as_unavailable(driver_error: type[Exception]) -> Iterator[None]:
    """Raise StoreUnavailable (from the original) for anything the database, its driver
    (`driver_error`: the DBAPI's base Error class) or the breaker raises in the block.

    The log names the error class only: drivers' messages may quote hosts, paths or values.
    """
    try:
        yield
    except pybreaker.CircuitBreakerError as exc:
        log.debug("store circuit open")
        raise StoreUnavailable() from exc
    except _OUTAGES as exc:
        log.warning("store unavailable (%s)", _cause(exc))
        raise StoreUnavailable() from exc
    except (sa_exc.StatementError, driver_error) as exc:
        # A value or state the database refused (DataError, IntegrityError, a missing table
        # on PostgreSQL, ...): not an outage, but the store cannot take this call either.
        log.error("store refused the operation (%s)", _cause(exc))
        raise StoreUnavailable() from exc


def _cause(exc: BaseException) -> str:
    original = getattr(exc, "orig", None)
    return type(original or exc).__name__
