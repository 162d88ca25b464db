"""Cards and rules for a terminal, drawn by rich: a card's indicator in its colour, its summary
and suggestion, then its markdown detail, wrapped to the terminal. Piped output is the same text
without colour codes, at rich's default width of 80 columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..core.describe import RuleDescription
from ..core.model import Card
from ..core.rules import RULE_SET_VERSION

INDICATOR_STYLES = {"critical": "bold white on red", "warning": "bold black on yellow"}
TIER_WORDS = {"E": "emergency", "U": "urgent", "R": "routine", "S": "self-care"}


def print_cards(
    cards: Sequence[Card], evaluated_at: datetime, console: Console | None = None
) -> None:
    """Every card in answer order, after the time the answer was evaluated at."""
    out = console or Console(highlight=False)
    shown = evaluated_at.isoformat(timespec="minutes")
    count = f"{len(cards)} card" + ("" if len(cards) == 1 else "s")
    parts: list[Text | Rule | Group] = [Text(f"{count}, evaluated as of {shown}", style="dim")]
    for number, card in enumerate(cards, start=1):
        parts += [Rule(style="dim"), _card(number, card)]
    emit(out, *parts)


def emit(out: Console, *parts: RenderableType) -> None:
    """Print to a terminal as rich draws it; to a pipe or file without the padding rich adds to
    every line (so the text diffs and greps cleanly)."""
    if out.is_terminal:
        out.print(*parts)
        return
    with out.capture() as captured:
        out.print(*parts)
    out.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def print_rules(rules: Sequence[RuleDescription], console: Console | None = None) -> None:
    """The rule set as a table: id, name, tier, routes."""
    out = console or Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("Rule", "Name", "Tier", "Route"):
        table.add_column(column, overflow="fold", no_wrap=column == "Rule")
    for rule in rules:
        table.add_row(rule.id, rule.name, TIER_WORDS[rule.tier], ", ".join(rule.routes))
    count = f"{len(rules)} rule" + ("" if len(rules) == 1 else "s")
    emit(out, table, Text(f"{count}, rule set {RULE_SET_VERSION}", style="dim"))


def _card(number: int, card: Card) -> Group:
    ext = card.extension
    facts = [TIER_WORDS.get(ext.tier or "", "data quality")]
    if ext.rule_id:
        facts.append(ext.rule_id)
    if ext.covered_by:
        facts.append(f"covered by {ext.covered_by}")
    if ext.merged_into:
        facts.append(f"merged into {ext.merged_into}")
    # A grid gives the summary and the suggestion a hanging indent when they wrap.
    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True)
    head.add_column()
    badge = Text.assemble(
        (f"{number}.", "bold"),
        " ",
        (f" {card.indicator.upper()} ", INDICATOR_STYLES.get(card.indicator, "bold white on blue")),
    )
    head.add_row(badge, Text(card.summary, style="bold"))
    head.add_row("", Text(" · ".join(facts), style="dim"))
    for suggestion in card.suggestions:
        priority = suggestion.referral.priority
        label = suggestion.label + (f" ({priority})" if priority else "")
        head.add_row(Text("Suggests", style="bold green"), label)
    parts: list[Table | Padding] = [head]
    if card.detail:
        parts.append(Padding(Markdown(card.detail), (1, 0, 0, 3)))
    return Group(*parts)
