"""A bounded fuzzer over the API's OpenAPI document (schemathesis is not installed).

For every operation it draws parameter values from the declared schema mixed with edge values
(empty, huge, negative, non-numeric, Cypher/Lucene/path-traversal text, unicode, NUL); for the
named queries it also draws typed and mistyped values for each declared parameter. Seeded.
"""

from __future__ import annotations

import random
from typing import Any, Iterator
from urllib.parse import quote

EDGE_TEXT = ["", " ", "0", "-1", "x" * 3000, "null", "NaN", "1e309", "true",
             "'; MATCH (n) DETACH DELETE n //", '")]}{', "\x00", "é漢字🙂", "a:b:c", "a:-1:-2",
             "synth-plt:1:2", "synth-plt:99999999999999999999:1", "p000001", "%", "../../etc/x",
             "*", "AND OR NOT", "~", "\\", "title:x", "a,b,,c", "/"]
EDGE_INT = [0, 1, -1, 2, 3, 4, 7, 1000, 2 ** 31, -2 ** 63, 2 ** 63, 2 ** 100]
EDGE_FLOAT = [0.0, -0.0, 1e308, -1e308, 1e-320, 0.5]


def _schema(schema: dict) -> dict:
    """The first non-null branch of an anyOf."""
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return branch
    return schema


def draw(schema: dict, rng: random.Random) -> Any:
    """A value for a query/path parameter: often valid for the schema, often an edge value."""
    schema = _schema(schema)
    if rng.random() < 0.4:
        return rng.choice(EDGE_TEXT + [str(i) for i in EDGE_INT])
    kind = schema.get("type")
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if kind == "integer":
        lo, hi = schema.get("minimum", -5), schema.get("maximum", 2 ** 31)
        return str(rng.choice([lo, hi, lo - 1, hi + 1, rng.randint(lo, min(hi, lo + 50))]))
    if kind == "number":
        return str(rng.choice(EDGE_FLOAT))
    if kind == "boolean":
        return rng.choice(["true", "false", "maybe"])
    return rng.choice(EDGE_TEXT)


def _typed(kind: str, rng: random.Random) -> Any:
    if kind.startswith("list<"):
        return [_typed(kind[5:-1], rng) for _ in range(rng.choice([0, 1, 3]))]
    if kind.startswith("choice("):
        return rng.choice(kind[7:-1].split("|") + ["other"])
    return {"int": lambda: rng.choice(EDGE_INT), "float": lambda: rng.choice(EDGE_FLOAT),
            "bool": lambda: rng.choice([True, False]),
            "string": lambda: rng.choice(EDGE_TEXT)}.get(kind, lambda: "x")()


def draw_query_params(spec: dict, rng: random.Random) -> dict:
    """Values for a named query's declared parameters: typed, mistyped, missing, unknown."""
    out: dict[str, Any] = {}
    for p in spec["params"]:
        if rng.random() < 0.8:
            out[p["name"]] = (_typed(p["type"], rng) if rng.random() < 0.7
                              else rng.choice(EDGE_TEXT + [None, 1.5, [1, "a"], {"k": 1}]))
    if rng.random() < 0.1:
        out["cypher"] = "MATCH (n) DETACH DELETE n"
    return out


def requests(openapi: dict, queries: list[dict], rng: random.Random,
             per_operation: int) -> Iterator[tuple[str, str, dict]]:
    """(method, url, kwargs for the client) for every operation, `per_operation` times."""
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            for _ in range(per_operation):
                url, params = path, {}
                for p in op.get("parameters", []):
                    if p["in"] == "path":
                        value = (rng.choice(queries)["name"] if p["name"] == "name"
                                 and rng.random() < 0.7 else draw(p["schema"], rng))
                        url = url.replace("{" + p["name"] + "}", quote(str(value), safe="") or "x")
                    elif p["in"] == "query" and (p.get("required") or rng.random() < 0.7):
                        params[p["name"]] = draw(p["schema"], rng)
                kwargs: dict[str, Any] = {"params": params}
                name = url.rsplit("/", 1)[-1]
                spec = next((q for q in queries if q["name"] == name), None)
                if spec and path == "/api/queries/{name}" and method == "get":
                    kwargs["params"] = {k: v if isinstance(v, str) else str(v)
                                        for k, v in draw_query_params(spec, rng).items()}
                if method in ("post", "put"):
                    body = (draw_query_params(spec, rng) if spec else
                            {"label": rng.choice(EDGE_TEXT)})
                    kwargs["json"] = rng.choice([{"params": body}, body, [], None, {"x": 1}])
                yield method, url, kwargs
