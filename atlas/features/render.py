"""Rendering a feature card for the terminal with rich: tables, bars, highlighted tokens."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from atlas.features.card import Example, FeatureCard

_BAR = 30


def _range(lo: float, hi: float | None) -> str:
    return f"[{lo:.3g}, {hi:.3g})" if hi is not None else f">= {lo:.3g}"


def _token_text(example: Example, scale: float) -> Text:
    """The window's tokens, each shaded by its activation relative to `scale`."""
    text = Text()
    for i, value in enumerate(example.values):
        token = example.tokens[i] if example.tokens else f"<{example.token_ids[i]}>"
        token = token.replace("\n", "\\n")
        style = ""
        if value > 0:
            level = min(value / scale, 1.0) if scale > 0 else 1.0
            shade = int(255 - 155 * level)
            style = f"black on rgb(255,{shade},{int(shade * 0.6)})"
        if i == example.index_in_ctx:
            style += " bold underline"
        text.append(token, style=style.strip() or None)
    return text


def _examples_table(title: str, examples: list[Example], scale: float) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("act", justify="right")
    table.add_column("prompt:pos")
    table.add_column("context")
    for e in examples:
        table.add_row(f"{e.activation:.3g}", f"{e.prompt_id[:10]}:{e.position}",
                      _token_text(e, scale))
    return table


def _stats_table(card: FeatureCard) -> Table:
    s = card.stats
    table = Table(title=f"feature {card.layer}/{card.feature}  run {card.run}  "
                        f"({card.transcoder_set})", show_header=False)
    rows = [("tokens seen", f"{s.n_tokens:,} in {s.n_prompts:,} prompts"),
            ("active", f"{s.n_active:,}  (frequency {s.frac_active:.3e})"),
            ("mean when active", f"{s.mean_active:.4g} ± {s.std_active:.3g}"),
            ("mean over all tokens", f"{s.mean_all:.4g}"),
            ("max / min active", f"{s.max_act:.4g} / {s.min_act:.4g}")]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _histogram_table(card: FeatureCard) -> Table:
    table = Table(title="activation histogram (log bins)")
    table.add_column("range")
    table.add_column("count", justify="right")
    table.add_column("")
    peak = max((b.n for b in card.histogram), default=1)
    for b in card.histogram:
        table.add_row(_range(b.lo, b.hi), f"{b.n:,}", "█" * max(1, round(_BAR * b.n / peak)))
    return table


def _outputs_table(card: FeatureCard) -> Table:
    table = Table(title="output tokens (decoder · W_U)")
    table.add_column("raises")
    table.add_column("", justify="right")
    table.add_column("lowers")
    table.add_column("", justify="right")
    for i in range(max(len(card.output_pos), len(card.output_neg))):
        pos = card.output_pos[i] if i < len(card.output_pos) else None
        neg = card.output_neg[i] if i < len(card.output_neg) else None
        table.add_row(repr(pos.token) if pos else "", f"{pos.value:+.3f}" if pos else "",
                      repr(neg.token) if neg else "", f"{neg.value:+.3f}" if neg else "")
    return table


def card_renderable(card: FeatureCard) -> Group:
    scale = card.stats.max_act
    parts = [_stats_table(card), _histogram_table(card),
             _examples_table("top activations", card.top_examples, scale)]
    for bucket in reversed(card.quantile_buckets):
        title = (f"quantile {bucket.quantile_lo:.0%}–{bucket.quantile_hi:.0%}  "
                 f"act {_range(bucket.act_lo, bucket.act_hi)}  n={bucket.n_active:,}")
        parts.append(_examples_table(title, bucket.examples, scale))
    if card.output_pos or card.output_neg:
        parts.append(_outputs_table(card))
    else:
        parts.append(Text("output tokens: not computed for this run"))
    return Group(*parts)


def print_card(card: FeatureCard, console: Console | None = None) -> None:
    (console or Console()).print(card_renderable(card))
