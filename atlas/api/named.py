"""Running named queries for the API: typed parameters, bounded sizes, paging on top of `limit`."""

from __future__ import annotations

import math
from typing import Any, Mapping

from atlas.api.errors import NotFoundError
from atlas.api.models import ColumnInfo, ParamInfo, QueryInfo
from atlas.api.state import Resources
from atlas.errors import InputError
from atlas.graphdb.queries import QuerySpec, bind_params, load_query, query_names

MAX_ROWS = 1000
"""Most rows one request may ask a query for (its `limit`, or offset + limit when paging)."""
MAX_LIST = 1000
"""Most items in one list parameter."""
MAX_TEXT = 2000
"""Longest string parameter."""
_INT64 = 2 ** 63


def spec_of(name: str) -> QuerySpec:
    """The named query `name`; 404 listing the valid names when unknown."""
    if name not in query_names():
        raise NotFoundError(f"unknown query {name!r}; valid names are {', '.join(query_names())}")
    return load_query(name)


def query_info(spec: QuerySpec) -> QueryInfo:
    return QueryInfo(name=spec.name, summary=spec.summary,
                     params=[ParamInfo(**vars(p)) for p in spec.params],
                     columns=[ColumnInfo(**vars(c)) for c in spec.columns])


def _check_value(query: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise InputError(f"query {query}: parameter {name}={value} does not fit in 64 bits; "
                         "give a smaller number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"query {query}: parameter {name}={value} is not finite; give a number")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise InputError(f"query {query}: parameter {name} has {len(value)} characters; "
                         f"at most {MAX_TEXT}")
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            raise InputError(f"query {query}: parameter {name} has {len(value)} items; "
                             f"at most {MAX_LIST}")
        for item in value:
            _check_value(query, name, item)


def bind_checked(spec: QuerySpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """bind_params plus the API's bounds: 64-bit ints, finite floats, sizes, limit <= MAX_ROWS."""
    bound = bind_params(spec, params)
    for name, value in bound.items():
        _check_value(spec.name, name, value)
    limit = bound.get("limit")
    if isinstance(limit, int) and not 1 <= limit <= MAX_ROWS:
        raise InputError(f"query {spec.name}: limit={limit} is out of range; give 1..{MAX_ROWS}")
    return bound


def run_query(res: Resources, name: str, params: Mapping[str, Any]) -> list[dict]:
    """Rows of the named query with checked parameters."""
    from atlas.graphdb.queries import run_named_query

    spec = spec_of(name)
    bound = bind_checked(spec, params)
    return run_named_query(res.driver(), name, bound, database=res.database)


def run_paged(res: Resources, name: str, params: Mapping[str, Any], offset: int,
              limit: int) -> tuple[list[dict], bool]:
    """Rows offset..offset+limit of a query that only has `limit`, and whether more exist."""
    if offset + limit >= MAX_ROWS:
        raise InputError(f"offset + limit = {offset + limit} is too deep for {name}; "
                         f"keep it below {MAX_ROWS} or narrow the query")
    rows = run_query(res, name, {**params, "limit": offset + limit + 1})
    return rows[offset:offset + limit], len(rows) > offset + limit
