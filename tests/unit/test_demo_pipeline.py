"""The demo's reuse rules: an atlas home filled from other inputs is not answered from."""

from __future__ import annotations

from pathlib import Path

from atlas.config import load_config
from atlas.demo.pipeline import _drop_stale_home, demo_config


def test_home_is_rebuilt_when_the_inputs_change(tmp_path: Path) -> None:
    config = demo_config(load_config({"home": str(tmp_path / "base")}), tmp_path / "home")
    _drop_stale_home(config, '{"model": "a"}')
    graphs = config.home / "graphs.duckdb"
    graphs.write_text("filled from model a")
    _drop_stale_home(config, '{"model": "a"}')          # same inputs: reused
    assert graphs.read_text() == "filled from model a"
    _drop_stale_home(config, '{"model": "b"}')          # new model: old graphs are gone
    assert not graphs.exists()
    assert (config.home / "demo_inputs.json").read_text() == '{"model": "b"}'
