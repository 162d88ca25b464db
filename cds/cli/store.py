"""`calf-cds db upgrade|downgrade|current` and `calf-cds report`: the store's commands.

Exit codes: 0 success; 1 the store is unavailable; 2 usage errors.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from datetime import datetime
from typing import Any

from ..config import Settings
from ..core.card_text import CONTROL_CHARACTERS
from ..errors import BadRequest, StoreUnavailable

_REVISION_ID = re.compile(r"[0-9]{4}")  # the migrations' own ids: 0001, 0002, ...


def add_to(commands: Any) -> None:
    """Add `db` and `report` to the `calf-cds` subparsers (argparse `add_subparsers()` result)."""
    db = commands.add_parser("db", help="the store's schema (Alembic migrations)")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply the migrations (CDS_DATABASE_URL)")
    upgrade.set_defaults(handler=_db_upgrade)
    downgrade = db_commands.add_parser(
        "downgrade", help="undo the migrations after REVISION (before running an older release)"
    )
    downgrade.add_argument(
        "revision", metavar="REVISION", help="e.g. 0001 (`base` or `-1` need --yes)"
    )
    downgrade.add_argument(
        "--yes",
        action="store_true",
        help="confirm a relative or `base` downgrade (may delete all data)",
    )
    downgrade.set_defaults(handler=_db_downgrade)
    current = db_commands.add_parser("current", help="print the applied migration revision")
    current.set_defaults(handler=_db_current)

    report = commands.add_parser(
        "report", help="per rule: cards issued, accepted, overridden, override rate, reasons"
    )
    report.add_argument(
        "--since", type=_since, default=None, metavar="DATE", help="cards issued from DATE on"
    )
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(handler=_report)


def _since(raw: str) -> datetime | None:
    from ..http.reports import parse_since

    try:
        return parse_since(raw)
    except BadRequest as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {raw!r}") from exc


def _open_store(settings: Settings) -> Any:
    from ..store import Store

    return Store.open(settings.database_url, settings=settings)


def _db_upgrade(_args: argparse.Namespace) -> int:
    settings = Settings.load()
    with _open_store(settings) as store:
        try:
            store.upgrade()
            revision = store.current_revision()
        except StoreUnavailable:
            return _unavailable(store)
    print(f"calf-cds: store at {store.url} is at revision {revision}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    if not _REVISION_ID.fullmatch(args.revision) and not args.yes:
        # `base`, `-2`, `heads`...: a relative target can reach base, which drops every table.
        print(
            f"calf-cds: db downgrade {args.revision} may drop every table: the cards issued, "
            "the feedback and the patient-hash salt kept there. Name a revision (e.g. 0001), "
            "or back up the store first (docs/deploy.md) and run it again with --yes.",
            file=sys.stderr,
        )
        return 2
    settings = Settings.load()
    with _open_store(settings) as store:
        try:
            store.downgrade(args.revision)
            revision = store.current_revision()
        except StoreUnavailable:
            return _unavailable(store)
        except ValueError as exc:  # an unknown revision, or one ahead of the store
            print(f"calf-cds: {exc}", file=sys.stderr)
            return 2
    print(f"calf-cds: store at {store.url} is at revision {revision}")
    return 0


def _db_current(_args: argparse.Namespace) -> int:
    settings = Settings.load()
    with _open_store(settings) as store:
        try:
            revision = store.current_revision()
        except StoreUnavailable:
            return _unavailable(store)
    print(revision or f"(no migrations applied{_where(store)}; run `calf-cds db upgrade`)")
    return 0


def _report(args: argparse.Namespace) -> int:
    settings = Settings.load()
    with _open_store(settings) as store:
        try:
            report = store.report(args.since)
        except StoreUnavailable:
            return _unavailable(store)
    sys.stdout.write(render_report(report, args.format))
    if args.format == "csv":
        # Kept off stdout so that stdout stays one clean CSV table.
        print(f"unmatched feedback: {report.unmatched_feedback}", file=sys.stderr)
    return 0


def _unavailable(store: Any) -> int:
    print(f"calf-cds: the store at {store.url} is unavailable{_where(store)}", file=sys.stderr)
    return 1


def _where(store: Any) -> str:
    """For a SQLite store, the file it looked for: a relative path follows the working
    directory, so `report` run elsewhere finds no store."""
    path = store.sqlite_file
    return "" if path is None else f" (the file {path}; set CDS_DATABASE_URL to the service's)"


def render_report(report: Any, form: str) -> str:
    """A cds.store.RuleReport as `table` (terminal), `csv` (spreadsheets) or `json` (the
    `GET /reports/rules` body). Always ends with a newline."""
    from .. import wire

    if form == "json":
        return json.dumps(wire.report(report), indent=2) + "\n"
    header = ("rule", "issued", "accepted", "overridden", "override_rate", "top_override_reasons")
    rows = [
        (
            row.rule_id or "(data quality)",
            str(row.issued),
            str(row.accepted),
            str(row.overridden),
            "" if row.override_rate is None else f"{row.override_rate:.1%}",
            "; ".join(_reason_label(reason) for reason in row.top_override_reasons),
        )
        for row in report.rows
    ]
    if form == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([(*row[:-1], _not_a_formula(row[-1])) for row in rows])
        return buffer.getvalue()
    table = [tuple(h.upper().replace("_", " ") for h in header), *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])) + "  " + line[-1]
        for line in table
    ]
    window = f" since {report.since.date().isoformat()}" if report.since else ""
    lines.append("")
    count = sum(1 for row in report.rows if row.rule_id)  # the data-quality row is no rule
    rules = f"{count} rule" + ("" if count == 1 else "s")
    lines.append(f"{rules} with cards issued{window}")
    lines.append(f"unmatched feedback (card not recorded): {report.unmatched_feedback}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _reason_label(reason: Any) -> str:
    name = _visible(reason.code) if reason.code else "no reason given"
    if reason.display:
        name += f" ({_visible(reason.display)})"
    return f"{name} x{reason.count}"


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@")


def _not_a_formula(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _visible(text: str) -> str:
    """Feedback text is the EHR's: its control characters are shown escaped, never sent to the
    terminal (an escape sequence could clear the operator's screen or retitle the window)."""
    return CONTROL_CHARACTERS.sub(
        lambda match: match.group().encode("unicode_escape").decode(), text
    )
