"""Named queries by name (typed parameters only, never Cypher), ingestion runs, health."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Path, Request

from atlas.api.models import Health, QueryInfo, QueryRequest, QueryResult, RunInfo
from atlas.api.named import query_info, run_query, spec_of
from atlas.api.state import Resources, resources
from atlas.errors import InputError, StoreError
from atlas.graphdb.queries import query_names

router = APIRouter(prefix="/api", tags=["queries"])

QueryName = Path(..., max_length=100, description="a name from GET /api/queries")


@router.get("/health", response_model=Health, summary="Liveness (touches no store)")
def health(res: Resources = Depends(resources)) -> Health:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("feature-atlas")
    except PackageNotFoundError:
        ver = "unknown"
    return Health(status="ok", version=ver, writes_enabled=bool(res.config.api_token))


@router.get("/queries", response_model=list[QueryInfo],
            summary="The named queries with their parameters and columns")
def list_queries() -> list[QueryInfo]:
    return [query_info(spec_of(name)) for name in query_names()]


@router.get("/queries/{name}/spec", response_model=QueryInfo, summary="One named query's spec")
def query_spec(name: str = QueryName) -> QueryInfo:
    return query_info(spec_of(name))


def _result(res: Resources, name: str, params: dict) -> QueryResult:
    spec = spec_of(name)
    rows = run_query(res, name, params)
    return QueryResult(query=name, columns=[c.name for c in spec.columns], rows=rows)


@router.get("/queries/{name}", response_model=QueryResult,
            summary="Run a named query; its parameters are query-string values "
                    "(lists comma-separated)")
def run_get(request: Request, name: str = QueryName,
            res: Resources = Depends(resources)) -> QueryResult:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise InputError(f"parameter {key} given twice; give lists comma-separated")
        params[key] = value
    return _result(res, name, params)


@router.post("/queries/{name}", response_model=QueryResult,
             summary="Run a named query with JSON-typed parameters")
def run_post(name: str = QueryName, body: QueryRequest = Body(default_factory=QueryRequest),
             res: Resources = Depends(resources)) -> QueryResult:
    return _result(res, name, body.params)


@router.get("/runs", response_model=list[RunInfo],
            summary="Ingestion runs with their progress (shards by state)", tags=["runs"])
def runs(res: Resources = Depends(resources)) -> list[RunInfo]:
    from sqlalchemy.exc import SQLAlchemyError

    from atlas.catalog.runs import run_progress

    try:
        with res.catalog() as session:
            return [RunInfo(**vars(p)) for p in run_progress(session)]
    except SQLAlchemyError as e:
        raise StoreError(f"cannot read runs from the catalog ({type(e).__name__}); run "
                         "`atlas init` or check catalog_url") from e
