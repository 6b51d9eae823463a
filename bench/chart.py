"""``python -m bench.chart``: draw the latest results as a chart for docs/benchmarks.md.

Reads ``bench/results/latest.json`` (what ``python -m bench`` wrote) and writes
``docs/benchmarks.svg``: one bar per table row, nodish's figure relative to the peer's
on a log scale, so that 1 is parity, right of it nodish is better (faster, or smaller
for memory rows) and left of it worse; the row's reference (a bare uvloop Protocol, or
the Python peer it names) is a tick on the same scale where the row has one. The table
itself is copied into docs/benchmarks.md between its ``results`` markers, so the page
shows both.

matplotlib is a bench-only dependency (the ``bench`` extra); ``make bench`` installs it.
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import harness

ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.svg"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def advantage(value: float | None, peer: float | None, lower_is_better: bool) -> float | None:
    """How many times better nodish is than the peer (>1 better, <1 worse)."""
    if not value or not peer:
        return None
    return peer / value if lower_is_better else value / peer


def bars(rows: Sequence[harness.Row]) -> list[dict[str, Any]]:
    """What the chart draws, one entry per row that has both figures."""
    out = []
    for row in rows:
        low = bool(row.get("lower_is_better"))
        adv = advantage(row.get("nodish"), row.get("peer"), low)
        if adv is None:
            continue
        ref = advantage(row.get("reference"), row.get("peer"), low)
        out.append(
            {
                "label": "\n".join(textwrap.wrap(row["name"], 34, break_on_hyphens=False))
                + f"\nvs {row['peer_name']}"
                + (f" (| {row.get('reference_name', 'reference')})" if ref else ""),
                "advantage": adv,
                "reference": ref,
                "reference_name": row.get("reference_name", ""),
            }
        )
    return out


def draw(rows: Sequence[harness.Row], machine: dict[str, str], path: Path) -> None:
    """Write the chart of ``rows`` to ``path`` (SVG, reproducible: no date, fixed ids)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "nodish-bench"
    import matplotlib.pyplot as plt

    items = bars(rows)
    fig, ax = plt.subplots(figsize=(10, 0.62 * len(items) + 1.6))
    ys = list(range(len(items)))[::-1]
    colors = ["#2e7d32" if it["advantage"] >= 1 else "#c62828" for it in items]
    # bars grow from parity (1) to the figure, rightwards when better, leftwards when worse
    ax.barh(ys, [it["advantage"] - 1 for it in items], left=1, color=colors, height=0.6)
    for y, it in zip(ys, items, strict=True):
        better = it["advantage"] >= 1
        ax.annotate(
            f"{it['advantage']:.2f}×",
            (max(it["advantage"], it["reference"] or 0) if better else it["advantage"], y),
            xytext=(5 if better else -4, 0),
            ha="left" if better else "right",
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
        if it["reference"]:
            ax.plot([it["reference"]], [y], marker="|", markersize=16, color="black")
    ax.set_xscale("log")
    ax.axvline(1.0, color="gray", linewidth=1)
    ax.set_yticks(ys, [it["label"] for it in items], fontsize=8)
    lo = min(min(it["advantage"] for it in items), 0.5) / 3
    hi = max(max(it["advantage"] for it in items), 2.0) * 2.5
    ax.set_xlim(lo, hi)
    ax.set_xlabel(
        "nodish relative to the peer (log scale; > 1: nodish better)\n"
        "| : the row's reference (in parentheses) on the same scale"
    )
    ax.set_title(
        f"nodish vs Node and Python peers\n{machine.get('date', '?')}, "
        f"{machine.get('nproc', '?')} cores (shared machine)",
        fontsize=9,
    )
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)


def update_page(page: Path, table: str, chart: Path) -> None:
    """Put the chart and ``table`` between the page's results markers."""
    text = page.read_text()
    body = f"{START}\n![nodish relative to each peer]({chart.name})\n\n{table}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Latest results\n\n" + body + "\n"
    page.write_text(text)


def main(argv: Sequence[str] | None = None) -> None:
    """Draw the chart and update the page from a results store."""
    p = argparse.ArgumentParser(prog="python -m bench.chart", description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, default=harness.RESULTS_DIR / "latest.json")
    p.add_argument("--chart", type=Path, default=CHART)
    p.add_argument("--page", type=Path, default=DOCS_PAGE)
    args = p.parse_args(argv)
    data = json.loads(args.results.read_text())
    rows: list[harness.Row] = []
    for name in sorted(data["sections"]):
        rows.extend(data["sections"][name].get("rows", []))
    draw(rows, data.get("machine", {}), args.chart)
    update_page(args.page, harness.markdown_table(rows), args.chart)
    print(f"chart written to {args.chart}, table to {args.page}")


if __name__ == "__main__":
    main()
