"""The web page rendered by headless Chromium against a live `atlas serve` app (skipped without it).

Each route of the page is opened once: Chromium's `--dump-dom` prints the DOM after the page's
scripts ran (so the test sees what the JS modules built from the API's JSON) and `--screenshot`
saves what a reader would see, as PNG under the test's tmp dir (`pytest --basetemp=DIR` keeps
them somewhere known). `scripts/setup.sh` installs Debian's `chromium` where it can.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from .test_api_atlas import PLANTED, SPEC, serve_filled_atlas

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="no /usr/bin/chromium on this machine; scripts/setup.sh installs "
                              "Debian's chromium when run as root (apt-get install chromium)")]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def live(atlas_config, neo4j_driver, tmp_path_factory):
    with serve_filled_atlas(atlas_config, neo4j_driver,
                            tmp_path_factory.mktemp("web")) as origin:
        yield origin


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def render(url: str, png: Path) -> str:
    """The DOM of `url` after its scripts ran; a 1280x900 screenshot of it saved to `png`."""
    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    out = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", "--window-size=1280,900",
                          "--virtual-time-budget=10000", f"--screenshot={png}", "--dump-dom",
                          url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000, png
    return out.stdout


def rendered_view(html: str) -> str:
    """The page's view element as rendered; fails when the view shows an error or is loading."""
    view = html.split('<main id="view"', 1)[1]
    assert 'class="error"' not in view and 'class="loading"' not in view, view[:500]
    return view


FEATURE, CIRCUIT = quote(PLANTED[1], safe=""), quote(",".join(PLANTED), safe="")
PAGES = {  # name -> (hash route, strings the rendered view must contain)
    "home": ("#/", ["Search features above", "Recurring circuits", 'href="#/prompt/p0']),
    "search-words": ("#/search?q=capital", ["Features matching “capital” (words)",
                                            f'href="#/feature/{quote(PLANTED[0], safe="")}"',
                                            "capital cities of Europe"]),
    "search-meaning": ("#/search?q=French+cooking&mode=semantic",
                       ["(meaning)", f'href="#/feature/{FEATURE}"', "French food and cooking"]),
    "feature": (f"#/feature/{FEATURE}", [f"Feature {PLANTED[1]}", 'class="hist"',
                                         'class="example"', "Neighbours across prompts"]),
    "circuits": ("#/circuits", ["Recurring circuits", 'href="#/prompt/p0', " → "]),
    "circuit": (f"#/circuit?features={CIRCUIT}", ["Prompts containing the circuit",
                                                  'href="#/prompt/p0', SPEC.run]),
    "prompts": ("#/prompts", ["<h2>Prompts</h2>", 'href="#/prompt/p000003', SPEC.run]),
    "runs": ("#/runs", ["<h2>Runs</h2>", SPEC.run, "loaded 1"]),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders(live, shots, name):
    route, wanted = PAGES[name]
    view = rendered_view(render(f"{live}/{route}", shots / f"{name}.png"))
    for text in wanted:
        assert text in view, (name, text, view[:1500])


def test_prompt_graph_is_drawn_with_nodes_and_edges(live, shots):
    view = rendered_view(render(f"{live}/#/prompt/p000003", shots / "prompt-graph.png"))
    assert view.count("<circle") > 5 and view.count("<line") > 5


def test_api_errors_are_shown_not_swallowed(live, shots):
    html = render(f"{live}/#/feature/{quote('nope:1:1', safe='')}", shots / "error.png")
    view = html.split('<main id="view"', 1)[1]
    assert 'class="error"' in view and "nope" in view
