"""The named query library: parse queries/*.cypher headers, validate parameters, run queries.

A named query file opens with a `//` comment block:

    // name: feature-neighborhood
    // summary: Strongest upstream and downstream features of one feature across prompts.
    // param feature: string -- feature key <transcoder_set>:<layer>:<index>
    // param limit: int = 10 -- rows per direction
    // param direction: choice(up|down|both) = "both" -- which side
    // column feature: string -- the neighbour's key

Types: int, float, string, bool, list<int>, list<float>, list<string>, choice(a|b|...); a
trailing `?` allows null. A parameter without `= default` is required. Values only ever travel
as Cypher parameters.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from atlas.errors import InputError, Neo4jError, StoreError
from atlas.paths import QUERIES_DIR

_PARAM = re.compile(r"^//\s*param\s+(\w+)\s*:\s*([\w<>|()]+)(\?)?\s*(?:=\s*(.*?))?\s*(?:--\s*(.*))?$")
_COLUMN = re.compile(r"^//\s*column\s+(\w+)\s*:\s*([\w<>|?]+)\s*(?:--\s*(.*))?$")
_FIELD = re.compile(r"^//\s*(name|summary)\s*:\s*(.*)$")
_SCALARS = {"int": int, "float": float, "string": str, "bool": bool}


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter."""

    name: str
    """Cypher parameter name."""
    type: str
    """int, float, string, bool, list<...> or choice(a|b)."""
    nullable: bool
    """Whether null is allowed."""
    required: bool
    """True when the header gives no default."""
    default: Any
    """Default value (already typed)."""
    help: str
    """Description from the header."""


@dataclass(frozen=True)
class ColumnSpec:
    """One declared result column."""

    name: str
    """Column name."""
    type: str
    """Declared type."""
    help: str
    """Description from the header."""


@dataclass(frozen=True)
class QuerySpec:
    """A parsed named query."""

    name: str
    """Query name (the file name without .cypher)."""
    summary: str
    """One-line description."""
    params: tuple[ParamSpec, ...]
    """Declared parameters."""
    columns: tuple[ColumnSpec, ...]
    """Declared result columns, in order."""
    text: str
    """The Cypher text."""


def _coerce(spec: ParamSpec, value: Any, query: str) -> Any:
    """`value` as the declared type (strings from the CLI are parsed); InputError otherwise."""
    if value is None:
        if spec.nullable:
            return None
        raise InputError(f"query {query}: parameter {spec.name} must not be null; give a "
                         f"{spec.type}")
    kind = spec.type
    try:
        if kind.startswith("list<"):
            inner = ParamSpec(spec.name, kind[5:-1], False, True, None, "")
            items = value.split(",") if isinstance(value, str) else list(value)
            if isinstance(value, str) and value.strip() == "":
                items = []
            return [_coerce(inner, v.strip() if isinstance(v, str) else v, query) for v in items]
        if kind.startswith("choice("):
            choices = kind[7:-1].split("|")
            if str(value) not in choices:
                raise ValueError(f"not one of {', '.join(choices)}")
            return str(value)
        if kind == "bool" and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError("not a boolean")
            return value.lower() in ("true", "1", "yes")
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            raise ValueError("not an integer")
        if kind in ("int", "float") and isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        return _SCALARS[kind](value)
    except (TypeError, ValueError, KeyError) as e:
        raise InputError(f"query {query}: parameter {spec.name}={value!r} is not a valid "
                         f"{kind} ({e}); fix the value") from e


def parse_header(name: str, text: str) -> QuerySpec:
    """Parse a query file's header comment block."""
    fields: dict[str, str] = {}
    params, columns = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("//"):
            if line:
                break
            continue
        if m := _PARAM.match(line):
            pname, ptype, opt, default, help_ = m.groups()
            probe = ParamSpec(pname, ptype, bool(opt), default is None, None, help_ or "")
            value = None if default is None else json.loads(default)
            params.append(ParamSpec(pname, ptype, bool(opt), default is None,
                                    _coerce(probe, value, name) if value is not None else None,
                                    help_ or ""))
        elif m := _COLUMN.match(line):
            columns.append(ColumnSpec(m.group(1), m.group(2), m.group(3) or ""))
        elif m := _FIELD.match(line):
            fields[m.group(1)] = m.group(2).strip()
    if fields.get("name") != name:
        raise StoreError(f"query file {name}.cypher declares name {fields.get('name')!r}; "
                         "make the header name match the file name")
    return QuerySpec(name, fields.get("summary", ""), tuple(params), tuple(columns), text)


def query_names() -> list[str]:
    """Names of the named queries (queries/*.cypher; loader statements live in subfolders)."""
    return sorted(p.stem for p in QUERIES_DIR.glob("*.cypher"))


@functools.cache
def load_query(name: str) -> QuerySpec:
    """The parsed named query `name`; InputError listing the valid names when unknown."""
    path = QUERIES_DIR / f"{name}.cypher"
    if not path.is_file():
        raise InputError(f"unknown query {name!r}; valid names are {', '.join(query_names())}")
    return parse_header(name, path.read_text())


def bind_params(spec: QuerySpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Declared parameters filled from `params` and defaults, typed; InputError on mistakes."""
    declared = {p.name: p for p in spec.params}
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise InputError(f"query {spec.name}: unknown parameter(s) {', '.join(unknown)}; "
                         f"valid are {', '.join(declared) or 'none'}")
    missing = [p.name for p in spec.params if p.required and p.name not in params]
    if missing:
        raise InputError(f"query {spec.name}: missing parameter(s) {', '.join(missing)}; "
                         f"pass them as --param NAME=VALUE")
    return {name: _coerce(p, params[name], spec.name) if name in params else p.default
            for name, p in declared.items()}


def run_named_query(driver, name: str, params: Mapping[str, Any] | None = None,
                    database: str = "neo4j") -> list[dict]:
    """Run the named query with validated parameters; rows as dicts keyed by declared columns."""
    from neo4j.exceptions import DriverError, Neo4jError as DriverNeo4jError

    spec = load_query(name)
    bound = bind_params(spec, params or {})
    try:
        records = driver.execute_query(spec.text, parameters_=bound, database_=database,
                                       routing_="r").records
    except (DriverError, DriverNeo4jError) as e:
        raise Neo4jError(f"query {name} failed: {e}; check the parameters and the server") from e
    return [dict(r) for r in records]
