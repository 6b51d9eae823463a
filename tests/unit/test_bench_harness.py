"""Smoke test of the benchmark harness: ``python -m bench emit --quick`` end to end."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from bench.__main__ import main


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_bench_harness_quick_emit_gives_positive_rows(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    t0 = time.monotonic()
    rows = main(["emit", "--quick", "--out", str(out)])
    assert time.monotonic() - t0 < 20
    # 0, 1 and 3 listeners, each against pyee and against Node
    assert len(rows) == 6
    assert {r["peer_name"] for r in rows} == {"pyee", "Node EventEmitter"}
    for row in rows:
        assert row["unit"] == "ops/s"
        assert row["nodish"] is not None and row["nodish"] > 0
        assert row["peer"] is not None and row["peer"] > 0
    text = out.read_text()
    assert "emit, 3 listeners" in text and "nproc" in text
    stored = json.loads(out.with_suffix(".json").read_text())
    assert stored["sections"]["emit"]["error"] is None
