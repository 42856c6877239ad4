"""The page's views rendered under node with a tiny DOM stand-in, against a live API (no browser).

Chromium is not available here, so this runs app.js for real (routing, fetch, view building)
over a minimal document object and checks the element tree each view builds. Skipped without
node. Layout and styling are not checked (no browser engine).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .test_api_atlas import PLANTED, SPEC, serve_filled_atlas

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

FAKE_DOM = r"""
class FakeNode {
  constructor(tag, text) { this.tag = tag; this.text = text; this.kids = []; this.attrs = {};
    this.dataset = {}; const self = this;
    this.classList = { add(c) { self.attrs.class = `${self.attrs.class || ""} ${c}`.trim(); },
                       toggle() {} }; }
  append(...cs) { this.kids.push(...cs); }
  replaceChildren(...cs) { this.kids = cs.map((c) => (c instanceof FakeNode ? c : new FakeNode("#text", String(c)))); }
  setAttribute(k, v) { this.attrs[k] = v; if (k.startsWith("data-")) this.dataset[k.slice(5)] = v; }
  addEventListener() {}
  toJSON() { return this.tag === "#text" ? this.text : { tag: this.tag, attrs: this.attrs, kids: this.kids }; }
}
const ids = {};
globalThis.Node = FakeNode;
globalThis.document = {
  createElement: (t) => new FakeNode(t), createElementNS: (_, t) => new FakeNode(t),
  createTextNode: (t) => new FakeNode("#text", t),
  getElementById: (id) => (ids[id] ||= new FakeNode("div")),
};
globalThis.window = { location: { hash: HASH, origin: ORIGIN }, addEventListener() {} };
const text = (n) => (n.tag === "#text" ? n.text : n.kids.map(text).join(""));
await import(APP);
for (let i = 0; i < 400; i++) {
  const view = ids.view;
  if (view && view.kids.length && !text(view).includes("loading")) {  // late parts too
    console.log(JSON.stringify(view));
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, 50));
}
console.error("view never rendered"); process.exit(1);
"""


@pytest.fixture(scope="module")
def origin(atlas_config, neo4j_driver, tmp_path_factory):
    with serve_filled_atlas(atlas_config, neo4j_driver,
                            tmp_path_factory.mktemp("webnode")) as origin:
        yield origin


def render(origin: str, hash_: str, tmp_path) -> dict:
    from atlas.api.app import WEB_DIR

    script = tmp_path / "render.mjs"
    script.write_text(FAKE_DOM.replace("HASH", json.dumps(hash_))
                      .replace("ORIGIN", json.dumps(origin))
                      .replace("APP", json.dumps((WEB_DIR / "app.js").as_uri())))
    out = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def walk(node):
    if isinstance(node, str):
        return
    yield node
    for kid in node["kids"]:
        yield from walk(kid)


def text(node) -> str:
    return node if isinstance(node, str) else "".join(text(k) for k in node["kids"])


def test_feature_view(origin, tmp_path):
    view = render(origin, f"#/feature/{PLANTED[1]}", tmp_path)
    nodes = list(walk(view))
    assert f"Feature {PLANTED[1]}" in text(view) and "error" not in {n["attrs"].get("class") for n in nodes}
    assert sum(n["tag"] == "rect" for n in nodes) >= 1  # histogram bars
    examples = [n for n in nodes if n["attrs"].get("class") == "example"]
    assert examples and any("tok on" in n["attrs"].get("class", "") for n in walk(examples[0]))
    neighbours = next(n for n in nodes if n["attrs"].get("class") == "neighbours")
    assert any(n["tag"] == "a" and n["attrs"]["href"].startswith("#/feature/")
               for n in walk(neighbours)), text(neighbours)


def test_prompt_view_draws_every_node_and_edge(origin, tmp_path, neo4j_driver, atlas_config):
    from atlas.graphdb.graph_json import prompt_graph_json

    graph = prompt_graph_json(neo4j_driver, "p000003", SPEC.run,
                              database=atlas_config.neo4j_database)
    nodes = list(walk(render(origin, f"#/prompt/p000003?run={SPEC.run}", tmp_path)))
    assert sum(n["tag"] == "circle" for n in nodes) == len(graph["nodes"])
    assert sum(n["tag"] == "line" for n in nodes) == len(graph["links"])


def test_circuits_view_links_features_and_prompts(origin, tmp_path):
    nodes = list(walk(render(origin, "#/circuits", tmp_path)))
    hrefs = [n["attrs"]["href"] for n in nodes if n["tag"] == "a" and "href" in n["attrs"]]
    assert any(h.startswith("#/prompt/p0") for h in hrefs)
    assert any(h.startswith("#/feature/") for h in hrefs)
    assert any(h.startswith("#/circuit?features=") for h in hrefs)


def test_search_view(origin, tmp_path):
    view = render(origin, "#/search?q=capital", tmp_path)
    assert PLANTED[0] in text(view)


def test_search_by_examples_without_the_runs_model_shows_its_error_line(origin, tmp_path):
    """This atlas's run names model folder /m, which does not exist: the API's one-line 400 is
    the whole view, not an empty result list."""
    view = render(origin, f"#/search?mode=examples&run={SPEC.run}&text=a+cat&text=a+dog", tmp_path)
    errors = [n for n in walk(view) if n["attrs"].get("class") == "error"]
    assert len(errors) == 1 and "model folder /m is missing" in text(errors[0]), view
    assert not any(n["tag"] == "table" for n in walk(view))
