"""Feature endpoints: a feature's card, search by words, meaning or examples, and relabel."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from starlette.concurrency import run_in_threadpool

from atlas.api.auth import AUTH_RESPONSES, require_token
from atlas.api.errors import NotFoundError
from atlas.api.models import ExampleHit, LabelRequest, LabelResult, Page, SearchHit
from atlas.api.state import Resources, resources
from atlas.errors import InputError
from atlas.features.card import FeatureCard

router = APIRouter(prefix="/api", tags=["features"])

CARD_CACHE = "public, max-age=60"
"""Cards change only when more shards of their run are merged."""
FeatureKey = Path(description="feature key <transcoder_set>:<layer>:<index>", max_length=300,
                  pattern=r"^.+:[0-9]{1,10}:[0-9]{1,10}$")


def _card_run(runs: list[str], transcoder_set: str, run: str | None) -> str:
    """The run whose card to show: the asked one if it has statistics, else the set's only one."""
    if run is not None:
        if run not in runs:
            raise NotFoundError(f"run {run!r} has no statistics for transcoder set "
                                f"{transcoder_set!r}; runs that do: {', '.join(runs) or 'none'}")
        return run
    if not runs:
        raise NotFoundError(f"no run has statistics for transcoder set {transcoder_set!r}; "
                            "ingest a run with it first")
    if len(runs) > 1:
        raise InputError(f"transcoder set {transcoder_set!r} has runs {', '.join(runs)}; pick "
                         "one with ?run=")
    return runs[0]


@router.get("/features/{key}", response_model=FeatureCard,
            summary="A feature's card: statistics, histogram, examples, output tokens")
async def feature_card(key: str = FeatureKey,
                 run: str | None = Query(None, max_length=200,
                                         description="run (default: the set's only run)"),
                 examples_per_bucket: int = Query(4, ge=1, le=32),
                 res: Resources = Depends(resources)) -> Response:
    from atlas.graphdb.keys import parse_feature_key

    tset, layer, index = parse_feature_key(key)
    if not (0 <= layer < 2 ** 15 and 0 <= index < 2 ** 31):
        raise NotFoundError(f"feature {key!r} is out of range; layer and index are small "
                            "non-negative integers")
    cache_key = (tset, layer, index, run, examples_per_bucket)
    body = res.cards.get(cache_key)
    if body is None:
        body = await run_in_threadpool(_card_json, res, tset, layer, index, run,
                                       examples_per_bucket)
        res.cards.put(cache_key, body)
    return Response(body, media_type="application/json", headers={"Cache-Control": CARD_CACHE})


def _card_json(res: Resources, tset: str, layer: int, index: int, run: str | None,
               per_bucket: int) -> bytes:
    """The card as JSON bytes (FeatureCard is already a strict model: no second validation)."""
    from atlas.features.card import assemble_card

    chosen = _card_run(res.card_reader().runs_of(tset), tset, run)
    try:
        card = assemble_card(res.card_rows(chosen, tset, layer, index), per_bucket=per_bucket)
    except InputError as e:
        raise NotFoundError(str(e)) from e
    return card.model_dump_json().encode()


@router.get("/search", response_model=Page[SearchHit],
            summary="Features by words (full-text) or by meaning (semantic)")
def search(q: str = Query(..., min_length=1, max_length=500, description="words to find"),
           mode: Literal["text", "semantic"] = Query("text"),
           offset: int = Query(0, ge=0, le=10_000), limit: int = Query(20, ge=1, le=200),
           res: Resources = Depends(resources)) -> Page[SearchHit]:
    from atlas.graphdb import search as s

    if mode == "semantic":
        page = s.search_semantic(res.driver(), q, res.embedder(), offset, limit,
                                 database=res.database)
    else:
        page = s.search_text(res.driver(), q, offset, limit, database=res.database)
    return Page[SearchHit](results=page.results, offset=offset, limit=limit,
                           has_more=page.has_more, next_offset=page.next_offset)


@router.get("/search/examples", response_model=Page[ExampleHit],
            summary="Features that fire more on example texts than on the run's prompts")
def search_examples(run: str = Query(..., min_length=1, max_length=200,
                                     description="run whose model and features to use"),
                    text: list[str] = Query(..., min_length=1, max_length=32,
                                            description="example texts (repeat the parameter)"),
                    offset: int = Query(0, ge=0, le=10_000),
                    limit: int = Query(20, ge=1, le=200),
                    res: Resources = Depends(resources)) -> Page[ExampleHit]:
    """Runs the run's model on the texts (loaded once per process) and ranks features against
    a seeded sample of the run's prompts (`atlas.features.by_examples`)."""
    if any(len(t) > 2000 for t in text):
        raise InputError("an example text is over 2000 characters; shorten it")
    page = res.example_searcher(run).search(text, offset, limit)
    return Page[ExampleHit](results=page.results, offset=offset, limit=limit,
                            has_more=page.has_more, next_offset=page.next_offset)


@router.put("/features/{key}/label", response_model=LabelResult,
            dependencies=[Depends(require_token)], responses=AUTH_RESPONSES,
            summary="Set a feature's label by hand (needs the bearer token)")
def set_label(key: str = FeatureKey, body: LabelRequest = Body(...),
              res: Resources = Depends(resources)) -> LabelResult:
    from atlas.graphdb.keys import parse_feature_key
    from atlas.graphdb.labels import FeatureLabel, write_labels

    parse_feature_key(key)
    text = " ".join(body.label.split())
    if not text:
        raise InputError("empty label; give some words")
    if not write_labels(res.driver(), [FeatureLabel(key, text, "manual")],
                        database=res.database):
        raise NotFoundError(f"no feature {key!r} in the graph; load a run that has it")
    return LabelResult(feature=key, label=text, source="manual")
