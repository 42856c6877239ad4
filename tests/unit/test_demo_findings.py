"""The demo's layered graph picture is drawn from circuit-tracer frontend JSON."""

from __future__ import annotations

from pathlib import Path

from atlas.attribution import attribute
from atlas.demo.findings import draw_graph, write_json
from atlas.graph.frontend import to_frontend
from atlas.models import load_model
from atlas.transcoders import random_transcoders
from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, tiny_model_dir


def test_png_of_a_frontend_graph(tmp_path: Path) -> None:
    model = load_model(tiny_model_dir("gpt2"), dtype="fp32")
    graph = attribute("The cat sat", model, random_transcoders(N_LAYERS, D_MODEL, 64, seed=1))
    data = to_frontend(graph, "cat").model_dump()
    assert data["links"], "a graph with no links would draw nothing"
    path = draw_graph(data, tmp_path / "cat.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000
    written = write_json(tmp_path / "cat.json", data)
    assert written.read_text().startswith("{") and not list(tmp_path.glob("*.tmp*"))
