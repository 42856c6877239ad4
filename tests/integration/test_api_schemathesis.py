"""Schemathesis over the API's OpenAPI document, in process (ASGI), against a real small atlas.

Every operation gets schema-valid and schema-violating requests (Hypothesis, derandomized,
bounded); every response must not be a 5xx, must be declared in the document (status code,
content type, body schema) and invalid requests must be rejected. Random path parameters
rarely name something that exists, so the operations with path parameters are also run with
ones that do (a stored feature, prompt, each named query) and only the rest generated.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the `test` extra")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from atlas.api import create_app  # noqa: E402
from atlas.config import AtlasConfig  # noqa: E402

from atlas.graphdb.queries import query_names  # noqa: E402

from .test_api_atlas import PLANTED, fill_atlas, word_embedder  # noqa: E402

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 15
"""Generated requests per operation and mode (bounded: the suite shares 2 cores)."""

# The document does not depend on the stores (they open on first use), so a default app gives
# the operations at collection time; the requests go to the app over the filled atlas.
schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(AtlasConfig(), web=False))
schema.config.generation.update(modes=["positive", "negative"], deterministic=True,
                                max_examples=MAX_EXAMPLES)


@pytest.fixture(scope="module")
def live_app(atlas_config, neo4j_driver, tmp_path_factory):
    atlas = fill_atlas(atlas_config, neo4j_driver, tmp_path_factory.mktemp("schemathesis"))
    return create_app(atlas.config, embedder_factory=lambda: word_embedder, web=False)


SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@schema.parametrize()
@SETTINGS
def test_api_conforms_to_its_openapi_document(case, live_app):
    case.call_and_validate(app=live_app)


RUNS_A_QUERY = {("GET", "/api/queries/{name}"), ("POST", "/api/queries/{name}")}
"""The document types a named query's parameters only as a free-form map (each query's own
parameters are in GET /api/queries/{name}/spec), so a "schema-valid" request to these is not
expected to be accepted: positive_data_acceptance does not apply; every other check does."""

EXISTING = [("GET", "/api/features/{key}", {"key": PLANTED[1]}),
            ("PUT", "/api/features/{key}/label", {"key": PLANTED[1]}),
            ("GET", "/api/prompts/{prompt_id}/graph", {"prompt_id": "p000003"})] + [
    (method, path, {"name": name}) for name in query_names()
    for method, path in (("GET", "/api/queries/{name}"), ("POST", "/api/queries/{name}"),
                         ("GET", "/api/queries/{name}/spec"))]


@pytest.mark.parametrize("method,path,params", EXISTING,
                         ids=[f"{m} {p} {v}" for m, p, v in EXISTING])
def test_operations_on_existing_resources_conform(live_app, method, path, params):
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    excluded = [positive_data_acceptance] if (method, path) in RUNS_A_QUERY else []

    @given(schema[path][method].as_strategy(path_parameters=params))
    @SETTINGS
    def check(case) -> None:
        case.call_and_validate(app=live_app, excluded_checks=excluded)

    check()
