"""The benchmark page: what the chart draws from a results row, and the page update."""

from __future__ import annotations

from pathlib import Path

from bench import chart
from bench.harness import Row


def test_advantage_is_above_one_when_nodish_is_better_in_either_direction() -> None:
    assert chart.advantage(200.0, 100.0, lower_is_better=False) == 2.0
    assert chart.advantage(50.0, 100.0, lower_is_better=False) == 0.5
    assert chart.advantage(2.0, 4.0, lower_is_better=True) == 2.0  # half the memory
    assert chart.advantage(None, 4.0, lower_is_better=True) is None


def test_bars_skip_rows_without_both_figures_and_carry_the_reference() -> None:
    rows: list[Row] = [
        {"name": "a", "unit": "ops/s", "nodish": 3.0, "peer": 2.0, "peer_name": "Node"},
        {"name": "b", "unit": "ops/s", "nodish": None, "peer": 2.0, "peer_name": "Node"},
        {
            "name": "c",
            "unit": "KiB/conn",
            "nodish": 3.0,
            "peer": 6.0,
            "peer_name": "Node",
            "reference": 1.0,
            "reference_name": "bare",
            "lower_is_better": True,
        },
    ]
    got = chart.bars(rows)
    assert [(b["label"], b["advantage"], b["reference"]) for b in got] == [
        ("a\nvs Node", 1.5, None),
        ("c\nvs Node (| bare)", 2.0, 6.0),
    ]


def test_the_page_gets_the_chart_and_table_between_its_markers_once(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nprose\n")
    chart.update_page(page, "| table 1 |", tmp_path / "benchmarks.svg")
    chart.update_page(page, "| table 2 |", tmp_path / "benchmarks.svg")
    text = page.read_text()
    assert text.count(chart.START) == 1 and text.count("## Latest results") == 1
    assert "| table 2 |" in text and "| table 1 |" not in text
    assert "![nodish relative to each peer](benchmarks.svg)" in text
    assert text.startswith("# Benchmarks\n\nprose\n")
