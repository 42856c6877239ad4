"""Graph endpoints: recurring circuits, the prompts of a circuit, prompts, one prompt's graph."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Response
from neo4j.exceptions import DriverError, Neo4jError as DriverNeo4jError

from atlas.api.errors import NotFoundError
from atlas.api.models import Circuit, CircuitPrompt, Page, PromptSummary
from atlas.api.named import MAX_LIST, run_paged
from atlas.api.state import Resources, resources
from atlas.errors import InputError, Neo4jError
from atlas.graphdb.cypher import read_cypher
from atlas.graph.frontend import FrontendGraph

router = APIRouter(prefix="/api", tags=["graph"])

IMMUTABLE = "public, max-age=31536000, immutable"
"""A (run, prompt) graph never changes once loaded (loads are idempotent)."""
SHORT = "public, max-age=60"
"""Without ?run= the newest matching run may change what a prompt id resolves to."""


def _csv(value: str | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) > MAX_LIST:
        raise InputError(f"{what} has {len(items)} items; at most {MAX_LIST}")
    return items


def _page(rows: list, more: bool, offset: int, limit: int, model: type) -> Page:
    return Page[model](results=rows, offset=offset, limit=limit, has_more=more,
                       next_offset=offset + limit if more else None)


@router.get("/circuits", response_model=Page[Circuit],
            summary="Recurring circuits: feature paths present in many prompts")
def circuits(min_prompts: int = Query(3, ge=1, le=1_000_000),
             min_length: int = Query(2, ge=1, le=4), max_length: int = Query(4, ge=1, le=4),
             token: int | None = Query(None, ge=0, lt=2 ** 31,
                                       description="output token id the path must feed"),
             prompts: str | None = Query(None, max_length=100_000,
                                         description="comma-separated prompt ids"),
             offset: int = Query(0, ge=0, le=900), limit: int = Query(20, ge=1, le=100),
             res: Resources = Depends(resources)) -> Page[Circuit]:
    params = {"min_prompts": min_prompts, "min_length": min_length, "max_length": max_length,
              "token": token, "prompts": _csv(prompts, "prompts")}
    rows, more = run_paged(res, "recurring-circuits", params, offset, limit)
    return _page(rows, more, offset, limit, Circuit)


@router.get("/circuits/prompts", response_model=Page[CircuitPrompt],
            summary="Prompts whose graph contains a feature path, with its weights there")
def circuit_prompts(features: str = Query(..., min_length=1, max_length=2000,
                                          description="comma-separated feature keys, in order"),
                    token: int | None = Query(None, ge=0, lt=2 ** 31),
                    offset: int = Query(0, ge=0, le=900), limit: int = Query(50, ge=1, le=100),
                    res: Resources = Depends(resources)) -> Page[CircuitPrompt]:
    keys = _csv(features, "features")
    if not keys:
        raise InputError("features is empty; give comma-separated feature keys")
    rows, more = run_paged(res, "circuit-prompts", {"features": keys, "token": token},
                           offset, limit)
    return _page(rows, more, offset, limit, CircuitPrompt)


@router.get("/prompts", response_model=Page[PromptSummary],
            summary="Prompts with a stored attribution graph")
def prompts(run: str | None = Query(None, max_length=200),
            offset: int = Query(0, ge=0, le=1_000_000), limit: int = Query(50, ge=1, le=500),
            res: Resources = Depends(resources)) -> Page[PromptSummary]:
    try:
        records = res.driver().execute_query(
            read_cypher("api/prompts.cypher"), run=run, offset=offset, limit=limit,
            database_=res.database, routing_="r").records
    except (DriverError, DriverNeo4jError) as e:
        raise Neo4jError(f"listing prompts failed: {e}; check the server") from e
    rows = [dict(r) for r in records]
    return _page(rows[:limit], len(rows) > limit, offset, limit, PromptSummary)


@router.get("/prompts/{prompt_id}/graph", response_model=FrontendGraph,
            summary="One prompt's pruned attribution graph as circuit-tracer frontend JSON")
def prompt_graph(response: Response,
                 prompt_id: str = Path(..., max_length=500),
                 run: str | None = Query(None, max_length=200),
                 res: Resources = Depends(resources)) -> FrontendGraph:
    from atlas.graphdb.graph_json import prompt_graph_json

    try:
        doc = prompt_graph_json(res.driver(), prompt_id, run, database=res.database)
    except InputError as e:
        raise NotFoundError(str(e)) from e
    doc["metadata"]["scan"] = doc["metadata"]["scan"] or ""
    response.headers["Cache-Control"] = IMMUTABLE if run is not None else SHORT
    return FrontendGraph.model_validate(doc)
