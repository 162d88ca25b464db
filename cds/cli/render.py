"""Cards and rules for a terminal, drawn by rich: a card's indicator in its colour, its summary
and suggestion, then its markdown detail, wrapped to the terminal. Piped output is the same text
without colour codes, at rich's default width of 80 columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..core.describe import RuleDescription
from ..core.i18n import ENGLISH, N_, Translator
from ..core.model import Card
from ..core.rules import RULE_SET_VERSION

INDICATOR_STYLES = {"critical": "bold white on red", "warning": "bold black on yellow"}
# The console's words for the indicator and the draft order's priority (cds.http.console_text
# "indicator.*", "order.priority.*"): the same message ids, so one reviewed translation serves
# both; the codes themselves stay in `--json`.
INDICATOR_WORDS = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Info")}
PRIORITY_WORDS = {
    "routine": N_("priority routine"),
    "urgent": N_("priority urgent"),
    "asap": N_("priority asap"),
    "stat": N_("priority stat"),
}
TIER_WORDS = {
    "E": N_("emergency tier"),
    "U": N_("urgent tier"),
    "R": N_("routine tier"),
    "S": N_("self-care tier"),
}


def print_cards(
    cards: Sequence[Card],
    evaluated_at: datetime,
    t: Translator = ENGLISH,
    console: Console | None = None,
) -> None:
    """Every card in answer order, after the time the answer was evaluated at."""
    out = console or Console(highlight=False)
    n = len(cards)
    heading = t.ngettext(
        "{n} card, evaluated as of {time}", "{n} cards, evaluated as of {time}", n
    ).format(n=n, time=_when(evaluated_at, t))
    parts: list[Text | Rule | Group] = [Text(heading, style="dim")]
    for number, card in enumerate(cards, start=1):
        parts += [Rule(style="dim"), _card(number, card, t)]
    emit(out, *parts)


def _when(at: datetime, t: Translator) -> str:
    """The evaluation time: ISO 8601 in English (as sent), else the language's date and the
    time in UTC, as the console writes it ("25.11.2026 12:00 UTC")."""
    if t.language == ENGLISH.language:
        return at.isoformat(timespec="minutes")
    utc = at.astimezone(UTC)
    return f"{t.date(utc.date())} {utc:%H:%M} UTC"


def emit(out: Console, *parts: RenderableType) -> None:
    """Print to a terminal as rich draws it; to a pipe or file without the padding rich adds to
    every line (so the text diffs and greps cleanly)."""
    if out.is_terminal:
        out.print(*parts)
        return
    with out.capture() as captured:
        out.print(*parts)
    out.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def print_rules(
    rules: Sequence[RuleDescription], t: Translator = ENGLISH, console: Console | None = None
) -> None:
    """The rule set as a table: id, name, tier, routes."""
    out = console or Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    # Ids never wrap (a folded id cannot be copied); the name takes what width is left.
    table.add_column(t.gettext(N_("Rule")), no_wrap=True)
    table.add_column(t.gettext(N_("Name")), overflow="fold")
    table.add_column(t.gettext(N_("Tier")), overflow="fold")
    # One route key a line, never cut: the keys are what an operator configures.
    table.add_column(t.gettext(N_("Route")), no_wrap=True)
    for rule in rules:
        tier = t.gettext(TIER_WORDS[rule.tier])
        table.add_row(rule.id, rule.name, tier, "\n".join(rule.routes))
    n = len(rules)
    footer = t.ngettext("{n} rule, rule set {version}", "{n} rules, rule set {version}", n)
    emit(out, table, Text(footer.format(n=n, version=RULE_SET_VERSION), style="dim"))


def _card(number: int, card: Card, t: Translator) -> Group:
    ext = card.extension
    facts = [t.gettext(TIER_WORDS.get(ext.tier or "", N_("data quality")))]
    if ext.rule_id:
        facts.append(ext.rule_id)
    if ext.covered_by:
        facts.append(t.gettext(N_("covered by {rule}")).format(rule=ext.covered_by))
    if ext.merged_into:
        facts.append(t.gettext(N_("merged into {rule}")).format(rule=ext.merged_into))
    # A grid gives the summary and the suggestion a hanging indent when they wrap.
    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True)
    head.add_column()
    word = INDICATOR_WORDS.get(card.indicator)
    shown = t.gettext(word) if word else card.indicator
    badge = Text.assemble(
        (f"{number}.", "bold"),
        " ",
        (f" {shown.upper()} ", INDICATOR_STYLES.get(card.indicator, "bold white on blue")),
    )
    head.add_row(badge, Text(card.summary, style="bold"))
    head.add_row("", Text(" · ".join(facts), style="dim"))
    for suggestion in card.suggestions:
        priority = suggestion.referral.priority
        label = suggestion.label + (f" ({_priority(priority, t)})" if priority else "")
        head.add_row(Text(t.gettext(N_("Suggests")), style="bold green"), label)
    parts: list[Table | Padding] = [head]
    if card.detail:
        parts.append(Padding(Markdown(card.detail), (1, 0, 0, 3)))
    return Group(*parts)


def _priority(code: str, t: Translator) -> str:
    """A ServiceRequest priority as the console words it ("priority urgent", «приоритет:
    срочный»)."""
    word = PRIORITY_WORDS.get(code)
    return t.gettext(word) if word else t.gettext(N_("priority {priority}")).format(priority=code)
