"""The web page rendered by headless Chromium against a live `atlas serve` app (skipped without it).

Each route of the page is opened once: Chromium's `--dump-dom` prints the DOM after the page's
scripts ran (so the test sees what the JS modules built from the API's JSON) and `--screenshot`
saves what a reader would see, as PNG under the test's tmp dir (`pytest --basetemp=DIR` keeps
them somewhere known). `scripts/setup.sh` installs Debian's `chromium` where it can.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

import pytest

from .test_api_atlas import LABELS, PLANTED, SPEC, T, serve_filled_atlas

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="no /usr/bin/chromium on this machine; scripts/setup.sh installs "
                              "Debian's chromium when run as root (apt-get install chromium)")]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def live(atlas_config, neo4j_driver, tmp_path_factory):
    with serve_filled_atlas(atlas_config, neo4j_driver, tmp_path_factory.mktemp("web"),
                            with_model=True) as origin:
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


EXAMPLES = ["the cat saw the ball", "~~~ ||| ~~~ |||"]
EXAMPLES_ROUTE = "#/search?" + urlencode({"mode": "examples", "run": SPEC.run, "text": EXAMPLES},
                                         doseq=True)


def feature_rows(view: str) -> list[str]:
    """Feature keys linked from the rows of the view's result table."""
    body = view.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [unquote(k) for k in re.findall(r'<tr><td><a href="#/feature/([^"?]+)', body)]


def test_search_by_examples_route_lists_ranked_features(live, shots):
    """A by-examples link opens the ranked features with the search box in examples mode."""
    html = render(f"{live}/{EXAMPLES_ROUTE}", shots / "search-examples.png")
    view = rendered_view(html)
    assert "Features firing on 2 example texts (run synth)" in view, view[:1500]
    keys = feature_rows(view)
    assert len(keys) == 20 and all(k.startswith(f"{T}:") for k in keys), keys
    assert f'href="#/feature/{quote(keys[0], safe="")}?run={SPEC.run}"' in view
    for row in view.split("<tr>")[2:]:  # labels come from the graph (named query feature-labels)
        key = unquote(re.search(r'href="#/feature/([^"?]+)', row)[1])
        assert (LABELS[key][0] in row) if key in LABELS else "<td></td>" in row, row
    assert "next →" in view
    form = html.split('<form id="search-form"', 1)[1].split("</form>", 1)[0]
    assert re.search(r'<input id="search-q"[^>]* hidden', form), form
    assert not re.search(r'<textarea id="search-texts"[^>]* hidden', form), form
    assert f'<option value="{SPEC.run}">' in form


def test_search_by_examples_bad_request_shows_the_error_line(live, shots):
    route = "#/search?" + urlencode({"mode": "examples", "run": "nope", "text": "x"})
    view = render(f"{live}/{route}", shots / "search-examples-error.png").split(
        '<main id="view"', 1)[1]
    assert re.search(r'<p class="error">[^<]*no run named .nope.[^<]*</p>', view), view[:800]
    assert "<table" not in view


SUBMIT = """(async () => {
  const until = async (test) => {
    for (let i = 0; i < 600 && !test(); i++) await new Promise((r) => setTimeout(r, 100));
    return test();
  };
  const $ = (id) => document.getElementById(id);
  $("search-mode").value = "examples";
  $("search-mode").dispatchEvent(new Event("change"));
  if (!$("search-q").hidden || $("search-texts").hidden || $("search-run").hidden)
    return "mode switch did not show the examples box";
  await until(() => $("search-run").options.length > 0);
  $("search-run").value = RUN;
  $("search-texts").value = TEXTS;
  document.querySelector("#search-form button[type=submit]").click();
  await until(() => $("view").querySelector(".error") !== null
    || ($("view").querySelector("h2")?.textContent || "").startsWith("Features firing on"));
  return $("view").outerHTML;
})()"""


def submit_examples(live: str, shots: Path, name: str, run: str, texts: str) -> str:
    """Open the home page, switch the search box to examples, type `texts` into it, pick `run`,
    press Search; the view's HTML once result rows or an error line appeared."""
    from .devtools import Browser

    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    with Browser(exe, f"{live}/#/", shots / f"profile-{name}", timeout=90) as browser:
        browser.wait_for('document.readyState === "complete" && '
                         'document.querySelector("#view > section") !== null')
        view = browser.evaluate(SUBMIT.replace("RUN", json.dumps(run))
                                .replace("TEXTS", json.dumps(texts)))
        browser.screenshot(shots / f"{name}.png")
    return view


def test_search_box_examples_mode_submits_texts(live, shots):
    view = submit_examples(live, shots, "typed-examples", SPEC.run, "\n".join(EXAMPLES) + "\n\n")
    assert 'class="error"' not in view, view[:800]
    assert "Features firing on 2 example texts (run synth)" in view, view[:800]
    keys = feature_rows(view)
    assert keys and all(k.startswith(f"{T}:") for k in keys), keys
    assert keys == feature_rows(rendered_view(render(f"{live}/{EXAMPLES_ROUTE}",
                                                     shots / "same-as-link.png")))


def test_search_box_examples_mode_shows_a_bad_request_as_one_line(live, shots):
    """33 texts are over the API's 32: its 400 envelope becomes the view's error line."""
    texts = "\n".join(f"text {i}" for i in range(33))
    view = submit_examples(live, shots, "typed-examples-error", SPEC.run, texts)
    assert re.fullmatch(r'<main id="view" aria-live="polite"><p class="error">[^<\n]+</p></main>',
                        view), view[:800]
    assert "text" in view and "<table" not in view
