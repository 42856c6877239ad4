"""The web page rendered by headless Chromium against a live `atlas serve` app (skipped without it).

Chromium's `--dump-dom` prints the DOM after the page's scripts ran, so the test sees what the
JS modules built from the API's JSON: a feature card and a prompt's layered SVG graph.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                                reason="no /usr/bin/chromium on this machine")


@pytest.fixture(scope="module")
def live(atlas_config, neo4j_driver, tmp_path_factory):
    import uvicorn

    from atlas.api import create_app
    from tests.conftest import free_port

    from .test_api_atlas import fill_atlas, word_embedder

    atlas = fill_atlas(atlas_config, neo4j_driver, tmp_path_factory.mktemp("web"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(atlas.config, lambda: word_embedder),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def dom(url: str) -> str:
    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    out = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=10000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_feature_page_renders_card(live):
    from .test_api_atlas import PLANTED

    html = dom(f"{live}/#/feature/{PLANTED[1]}")
    assert f"Feature {PLANTED[1]}" in html and 'class="hist"' in html
    assert 'class="example"' in html and "Neighbours across prompts" in html


def test_prompt_page_draws_layered_graph(live):
    html = dom(f"{live}/#/prompt/p000003")
    assert 'class="graph"' in html and html.count("<circle") > 5 and "<line" in html


def test_circuits_table_links_prompts(live):
    html = dom(f"{live}/#/circuits")
    assert "Recurring circuits" in html and 'href="#/prompt/p0' in html
