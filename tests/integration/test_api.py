"""The HTTP API over a real small atlas: every endpoint against the library it wraps, errors, auth."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient

from atlas.api import create_app
from atlas.api.errors import GENERIC
from atlas.config import AtlasConfig, replace
from atlas.features.card import load_card
from atlas.graph.frontend import FrontendGraph
from atlas.graphdb.graph_json import prompt_graph_json
from atlas.graphdb.queries import query_names, run_named_query
from atlas.stores.duckdb_store import connect

from .test_api_atlas import LABELS, PLANTED, SPEC, T, fill_atlas, word_embedder


@pytest.fixture(scope="module")
def atlas(atlas_config, neo4j_driver, tmp_path_factory):
    return fill_atlas(atlas_config, neo4j_driver, tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def client(atlas):
    with TestClient(create_app(atlas.config, embedder_factory=lambda: word_embedder),
                    raise_server_exceptions=False) as c:
        yield c


def direct(neo4j_driver, atlas, name, **params):
    return run_named_query(neo4j_driver, name, params, database=atlas.config.neo4j_database)


def test_openapi_is_published_and_models_forbid_unknown_fields(client):
    doc = client.get("/api/openapi.json").json()
    for path in ("/api/features/{key}", "/api/search", "/api/circuits", "/api/circuits/prompts",
                 "/api/prompts", "/api/prompts/{prompt_id}/graph", "/api/runs", "/api/queries",
                 "/api/queries/{name}"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    objects = {n: s for n, s in schemas.items() if s.get("type") == "object" and
               "properties" in s and n not in ("HTTPValidationError", "ValidationError")}
    assert len(objects) > 15
    for name, schema in objects.items():
        assert schema.get("additionalProperties") is False, name


def test_only_guarded_endpoints_write(client):
    doc = client.get("/api/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method == "get" or (method == "post" and path == "/api/queries/{name}"):
                continue
            assert op.get("security"), (method, path)  # a bearer token is required


def test_feature_card_equals_the_store(client, atlas):
    got = client.get(f"/api/features/{PLANTED[1]}")
    assert got.status_code == 200
    con = connect(atlas.config, read_only=True)
    try:
        want = load_card(con, SPEC.run, T, 1, 2)
    finally:
        con.close()
    assert got.json() == want.model_dump(mode="json")
    assert got.json()["output_pos"], "output tokens were written for layer 1"
    assert client.get(f"/api/features/{PLANTED[1]}", params={"run": SPEC.run}).json() == got.json()


@pytest.mark.parametrize("path,status", [
    (f"/api/features/{T}:1:29999", 404), (f"/api/features/{T}:1:2?run=nope", 404),
    ("/api/features/other-set:1:2", 404), ("/api/features/not-a-key", 400),
    (f"/api/features/{T}:1:2?examples_per_bucket=0", 400), ("/api/prompts/nope/graph", 404),
    ("/api/queries/nope", 404), ("/api/nothing", 404), ("/api/search", 400)])
def test_errors_are_one_line_json(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert set(r.json()) == {"error"} and "\n" not in r.json()["error"]


def test_search_text_and_paging(client):
    hits = client.get("/api/search", params={"q": "capital"}).json()
    assert hits["results"][0]["feature"] == PLANTED[0]
    first = client.get("/api/search", params={"q": "capital food counting", "limit": 2}).json()
    assert len(first["results"]) == 2 and first["has_more"] and first["next_offset"] == 2
    rest = client.get("/api/search", params={"q": "capital food counting", "offset": 2}).json()
    assert len(rest["results"]) == 1 and not rest["has_more"] and rest["next_offset"] is None
    keys = {h["feature"] for h in first["results"] + rest["results"]}
    assert keys == set(LABELS)
    injected = client.get("/api/search", params={"q": 'x") DETACH DELETE n //'})
    assert injected.status_code == 200 and injected.json()["results"] == []


def test_search_semantic(client):
    hits = client.get("/api/search", params={"q": "French cooking", "mode": "semantic",
                                             "limit": 1}).json()
    assert hits["results"][0]["feature"] == PLANTED[1] and hits["has_more"]
    assert client.get("/api/search", params={"q": "x", "mode": "vector"}).status_code == 400


def test_recurring_circuits_and_paging(client, neo4j_driver, atlas):
    want = direct(neo4j_driver, atlas, "recurring-circuits", min_prompts=3, limit=6)
    page1 = client.get("/api/circuits", params={"limit": 3}).json()
    page2 = client.get("/api/circuits", params={"limit": 3, "offset": 3}).json()
    assert page1["results"] + page2["results"] == want
    assert page1["has_more"] and page1["next_offset"] == 3
    top = client.get("/api/circuits", params={"token": 7, "min_length": 3}).json()["results"]
    assert any(c["features"] == PLANTED and c["token"] == 7 for c in top)


def test_circuit_prompts(client, neo4j_driver, atlas):
    want = direct(neo4j_driver, atlas, "circuit-prompts", features=PLANTED, token=7, limit=100)
    got = client.get("/api/circuits/prompts", params={"features": ",".join(PLANTED),
                                                      "token": 7, "limit": 100}).json()
    assert got["results"] == want and len(want) > 3 and not got["has_more"]


def test_prompts_pages_cover_every_prompt(client):
    ids, offset = [], 0
    while offset is not None:
        page = client.get("/api/prompts", params={"offset": offset, "limit": 10}).json()
        ids += [p["prompt_id"] for p in page["results"]]
        offset = page["next_offset"]
    assert ids == [f"p{i:06d}" for i in range(SPEC.n_prompts)]


def test_prompt_graph_is_frontend_json_and_cacheable(client, neo4j_driver, atlas):
    r = client.get("/api/prompts/p000003/graph", params={"run": SPEC.run})
    assert r.status_code == 200
    assert "immutable" in r.headers["cache-control"]
    want = prompt_graph_json(neo4j_driver, "p000003", SPEC.run,
                             database=atlas.config.neo4j_database)
    assert r.json() == FrontendGraph.model_validate(want).model_dump(mode="json")
    loose = client.get("/api/prompts/p000003/graph")
    assert loose.json() == r.json() and "immutable" not in loose.headers["cache-control"]


def test_runs_with_progress(client):
    runs = client.get("/api/runs").json()
    assert [r["name"] for r in runs] == [SPEC.run]
    assert runs[0]["n_shards"] == 2 and runs[0]["by_state"] == {"loaded": 1, "pending": 1}
    assert runs[0]["n_graphs"] == 12


def test_named_queries_by_name(client, neo4j_driver, atlas):
    listed = client.get("/api/queries").json()
    assert [q["name"] for q in listed] == query_names()
    want = direct(neo4j_driver, atlas, "feature-neighborhood", feature=PLANTED[1], limit=5)
    got = client.get("/api/queries/feature-neighborhood",
                     params={"feature": PLANTED[1], "limit": "5"}).json()
    assert got["rows"] == want and got["columns"][0] == "direction" and want
    posted = client.post("/api/queries/feature-neighborhood",
                         json={"params": {"feature": PLANTED[1], "limit": 5}}).json()
    assert posted == got
    lists = client.get("/api/queries/hubs", params={"prompts": "p000001,p000002"}).json()
    assert lists["rows"] == direct(neo4j_driver, atlas, "hubs", prompts=["p000001", "p000002"])


@pytest.mark.parametrize("method,params,fragment", [
    ("get", {"feature": PLANTED[1], "cypher": "MATCH (n) DETACH DELETE n"}, "unknown parameter"),
    ("get", {}, "missing parameter"),
    ("get", {"feature": PLANTED[1], "limit": "many"}, "not a valid int"),
    ("get", {"feature": PLANTED[1], "limit": "100000"}, "out of range"),
    ("post", {"feature": PLANTED[1], "limit": 2 ** 70}, "64 bits"),
    ("post", {"feature": PLANTED[1], "direction": "sideways"}, "not one of")])
def test_named_query_parameters_are_validated(client, method, params, fragment):
    url = "/api/queries/feature-neighborhood"
    r = (client.get(url, params=params) if method == "get"
         else client.post(url, json={"params": params}))
    assert r.status_code == 400 and fragment in r.json()["error"], r.json()
    assert client.post(url, json={"params": {}, "cypher": "RETURN 1"}).status_code == 400


def test_relabel_needs_the_bearer_token(client, atlas, neo4j_driver):
    key, body = f"{T}:3:6", {"label": "tokens about weather"}
    assert client.put(f"/api/features/{key}/label", json=body).status_code == 401
    assert client.put(f"/api/features/{key}/label", json=body,  # no token configured
                      headers={"Authorization": "Bearer x"}).status_code == 403
    app = create_app(replace(atlas.config, api_token="s3cret"), web=False)
    with TestClient(app, raise_server_exceptions=False) as guarded:
        assert guarded.put(f"/api/features/{key}/label", json=body).status_code == 401
        wrong = guarded.put(f"/api/features/{key}/label", json=body,
                            headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        auth = {"Authorization": "Bearer s3cret"}
        ok = guarded.put(f"/api/features/{key}/label", json=body, headers=auth)
        assert ok.status_code == 200 and ok.json()["label"] == body["label"]
        assert guarded.put(f"/api/features/{T}:3:29999/label", json=body,
                           headers=auth).status_code == 404
        assert guarded.put(f"/api/features/{key}/label", json={"label": ""},
                           headers=auth).status_code == 400
    found = client.get("/api/search", params={"q": "weather"}).json()["results"]
    assert found[0]["feature"] == key and found[0]["label"] == body["label"]


def test_unexpected_errors_are_generic_500(atlas):
    app = create_app(atlas.config, web=False)

    @app.get("/api/boom")
    def boom() -> dict:
        raise RuntimeError("secret internals /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/boom")
    assert r.status_code == 500 and r.json() == {"error": GENERIC}


def test_missing_stores_are_json_errors(atlas, tmp_path):
    config = replace(atlas.config, duckdb_path=tmp_path / "none.duckdb",
                     catalog_url=f"sqlite:///{tmp_path / 'none.sqlite'}")
    with TestClient(create_app(config, web=False), raise_server_exceptions=False) as c:
        assert c.get(f"/api/features/{PLANTED[0]}").status_code == 400
        assert c.get("/api/runs").status_code == 400
    assert not (tmp_path / "none.sqlite").exists() and not (tmp_path / "none.duckdb").exists()


def test_cors_is_off_by_default_and_configurable(client, atlas):
    pre = {"Origin": "http://viewer.example", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in client.get(
        "/api/health", headers={"Origin": "http://viewer.example"}).headers
    app = create_app(replace(atlas.config, api_cors_origins="http://viewer.example"), web=False)
    with TestClient(app) as c:
        r = c.options("/api/queries", headers=pre)
        assert r.headers["access-control-allow-origin"] == "http://viewer.example"
        other = c.get("/api/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_web_page_is_served_without_cdn(client):
    from atlas.api.app import WEB_DIR

    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for path in sorted(WEB_DIR.iterdir()):
        text = path.read_text()
        assert "://" not in text.replace("http://www.w3.org/2000/svg", ""), path.name
        assert client.get(f"/{path.name}").status_code == 200


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_graph_layout_is_layered_by_layer_and_position(client, tmp_path):
    from atlas.api.app import WEB_DIR

    graph = client.get("/api/prompts/p000003/graph", params={"run": SPEC.run}).json()
    (tmp_path / "g.json").write_text(json.dumps(graph))
    script = (f"import({json.dumps((WEB_DIR / 'graph.js').as_uri())}).then((m) => {{"
              f"const g = JSON.parse(require('fs').readFileSync({json.dumps(str(tmp_path / 'g.json'))}));"
              "const {pos} = m.layout(g); console.log(JSON.stringify(Object.fromEntries(pos)));});")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pos = json.loads(out.stdout)
    rank = {n["node_id"]: -1 if n["layer"] == "E" else int(n["layer"]) for n in graph["nodes"]}
    ctx = {n["node_id"]: n["ctx_idx"] for n in graph["nodes"]}
    assert set(pos) == set(rank)
    for a in pos:
        for b in pos:
            if rank[a] < rank[b]:
                assert pos[a]["y"] > pos[b]["y"], (a, b)  # higher layers are drawn higher
            if ctx[a] < ctx[b]:
                assert pos[a]["x"] < pos[b]["x"], (a, b)  # later positions to the right


def test_atlas_serve_binds_loopback_by_default(tmp_path):
    import sys
    import time
    import urllib.request

    from tests.conftest import free_port

    assert AtlasConfig().api_host == "127.0.0.1"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "atlas.cli.main", "--home", str(tmp_path),
                             "serve", "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        deadline, health = time.monotonic() + 60, None
        while health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    health = json.load(r)
            except OSError:
                time.sleep(0.3)
        assert health == {"status": "ok", "version": health["version"], "writes_enabled": False}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"serving http://127.0.0.1:{port}/" in err


def test_atlas_serve_workers_share_the_read_only_store_and_stop_together(atlas, client, tmp_path):
    """--workers 2: both processes answer cards from one DuckDB file; SIGTERM stops them all."""
    import concurrent.futures as cf
    import os
    import sys
    import time
    import urllib.request

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "ATLAS_DUCKDB_PATH": str(atlas.config.duckdb_path_resolved)}
    proc = subprocess.Popen([sys.executable, "-m", "atlas.cli.main", "--home", str(tmp_path),
                             "serve", "--port", str(port), "--workers", "2"],
                            stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> bytes:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.read()

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                get("/api/health")
                break
            except OSError:
                time.sleep(0.3)
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)],
                                                   capture_output=True, text=True).stdout.split()]
        assert len(children) == 2
        with cf.ThreadPoolExecutor(8) as pool:
            bodies = set(pool.map(get, [f"/api/features/{PLANTED[1]}"] * 16))
        assert len(bodies) == 1
        assert json.loads(bodies.pop()) == client.get(f"/api/features/{PLANTED[1]}").json()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "2 workers" in err, err
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_concurrent_card_misses_are_batched_and_each_equals_the_store(atlas):
    """The server's batched reads (Resources.card_rows) against load_card, 16 threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    from atlas.api.state import Resources
    from atlas.errors import InputError
    from atlas.features.card import assemble_card

    con = connect(atlas.config, read_only=True)
    res = Resources(atlas.config)
    try:
        ids = con.execute("SELECT layer, feature FROM feature_stats ORDER BY 1, 2").fetchall()
        ids.append((1, 29999))  # no statistics: only its own caller fails
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(lambda i: res.card_rows(SPEC.run, T, *i), ids))
        for (layer, feature), rows in zip(ids[:-1], got[:-1]):
            assert assemble_card(rows) == load_card(con, SPEC.run, T, layer, feature)
        with pytest.raises(InputError):
            assemble_card(got[-1])
    finally:
        res.close()
        con.close()
