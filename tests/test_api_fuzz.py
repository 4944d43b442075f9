"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis, in-process).

Whatever schemathesis sends (valid or not), the service must never answer with a 5xx, and
documented responses must match their schemas.
"""

from __future__ import annotations

import pytest

pytest.importorskip("schemathesis")

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance  # noqa: E402

from api_helpers import NET_INCOME_ANSWER, built_index, make_settings  # noqa: E402,F401
from fakes import install_fake_llm  # noqa: E402

ANSWERS = [
    NET_INCOME_ANSWER,
    "Meta is spending $65 billion [002_9fd4f84746180eec.txt:4].",
    "I don't know.",
    "An answer with a [bogus.txt:999] citation and a stray [ bracket.",
]


@pytest.fixture(scope="module")
def fuzz_fake():
    fake = install_fake_llm()
    fake.queue(*(ANSWERS * 50))  # afterwards the fake answers "I don't know."
    yield fake
    fake.reset()


@pytest.fixture(scope="module")
def fuzz_app(built_index, fuzz_fake):
    from api.app import create_app
    from rag.service import RagService

    settings = make_settings(built_index.index_dir, built_index.corpus)
    service = RagService(settings, embedder=built_index.embedder)
    service.warm_up(llm=False)  # loaded here, so the app is ready as soon as its lifespan starts
    return create_app(settings, service, warm_up=False, load_llm=False)


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


# schemathesis' own pytest integration (`schemathesis.pytest.from_fixture`) breaks on this pytest
# (it reads `request.node._nodeid`), so each operation is driven with plain Hypothesis instead.
OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/v1/search"),
    ("GET", "/v1/sources/{source}"),
    ("GET", "/v1/pages/{source}"),
    ("POST", "/v1/ask"),
    ("POST", "/v1/chat/completions"),
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def _operation(api_schema, method: str, path: str):
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == method and operation.path == path:
            return operation
    raise AssertionError(f"{method} {path} is not in the OpenAPI schema")


def test_every_operation_is_fuzzed(api_schema):
    found = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode}")
    for method, path in OPERATIONS
    for mode in MODES
    if not (path == "/health" and mode is GenerationMode.NEGATIVE)  # no inputs to make invalid
]


@pytest.mark.slow
@pytest.mark.parametrize("method,path,mode", CASES)
def test_no_server_errors(api_schema, fuzz_fake, method, path, mode):
    operation = _operation(api_schema, method, path)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call()
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
        )
        text = response.text
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, text[:500])
        if response.status_code >= 400:
            detail = response.json().get("detail")
            assert isinstance(detail, str) and detail, text[:500]
        assert "Traceback" not in text

    check()
