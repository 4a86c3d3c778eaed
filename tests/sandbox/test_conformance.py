"""Every kind of body the sandbox sends, checked against OpenRouter's own OpenAPI 3.1 document.

The schemas are made strict: every object schema with `properties` and no `additionalProperties`
gets `additionalProperties: false`, so a renamed or invented field fails. Fields that real responses
carry but the OpenAPI omits are allowed explicitly below, each with the docs/openrouter.md
section that records it. Where reality contradicts the schema, the default responses are checked
strictly and the fault that reproduces reality against a documented relaxation.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from flux_cli.sandbox import SANDBOX_KEY, Fault, Sandbox, SandboxConfig
from tests.sandbox.helpers import KLEIN, MAX, PRO, chat, data_url, generate, ref

# OpenRouter's own OpenAPI (MIT, https://openrouter.ai/openapi.json): the image-related paths and
# every schema they reference, kept in the repository so the check runs wherever it is cloned.
OPENAPI = Path(__file__).parents[1] / "data" / "openrouter-openapi.yaml"

BASE = "urn:openrouter-openapi"
SCHEMAS = ("components", "schemas")

# Fields recorded in real responses that the OpenAPI leaves out (path to a `properties` object,
# field name, schema). Each one is allowed on purpose; anything else extra fails.
DOCUMENTED_EXTRAS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    # docs/openrouter.md#chat-response: chat responses carry a top-level `provider` string ("not in OpenAPI ChatResult").
    ((*SCHEMAS, "ChatResult", "properties"), "provider", {"type": "string"}),
    # docs/openrouter.md#chat-response: choices carry `native_finish_reason` next to `finish_reason`.
    ((*SCHEMAS, "ChatChoice", "properties"), "native_finish_reason", {"type": ["string", "null"]}),
    # docs/openrouter.md#chat-response: message.images[] items carry "type": "image_url" (docs example).
    ((*SCHEMAS, "ChatAssistantImages", "items", "properties"), "type", {"const": "image_url"}),
    # docs/openrouter.md#chat-response: usage.completion_tokens_details.image_tokens (documented in overview.mdx).
    (
        (*SCHEMAS, "ChatUsage", "properties", "completion_tokens_details", "properties"),
        "image_tokens",
        {"type": ["integer", "null"]},
    ),
    # docs/openrouter.md#streaming: stream chunks carry `provider` (the mid-stream error example has it).
    ((*SCHEMAS, "ChatStreamChunk", "properties"), "provider", {"type": "string"}),
    # docs/openrouter.md#streaming: images arrive in delta.images; "the OpenAPI ChatStreamDelta schema omits images".
    (
        (*SCHEMAS, "ChatStreamDelta", "properties"),
        "images",
        {"$ref": "#/components/schemas/ChatAssistantImages"},
    ),
]

_KEY_DATA = (
    "paths", "/key", "get", "responses", "200", "content", "application/json", "schema",
    "properties", "data", "properties",
)  # fmt: skip
_NULLABLE_STRING = {"type": ["string", "null"]}
# docs/openrouter.md#key: the /key fields of the current SDK (`openrouter` 1.3.84,
# `GetCurrentKeyData`, `KeyBudget`), newer than this OpenAPI copy.
KEY_BUDGET = {
    "type": "object",
    "properties": {
        "budget_id": _NULLABLE_STRING,
        "guardrail_id": _NULLABLE_STRING,
        "include_byok": {"type": "boolean"},
        "limit_usd": {"type": "number"},
        "remaining_usd": {"type": "number"},
        "reset_interval": {"enum": ["daily", "weekly", "monthly", None]},
        "resets_at": {"type": ["string", "null"], "format": "date-time"},
        "scope": {
            "enum": [
                "workspace_default_member",
                "workspace_default_key",
                "member",
                "api_key",
                "workspace",
                "key_limit",
            ]
        },
        "spend_usd": {"type": "number"},
    },
    "required": [
        "budget_id",
        "guardrail_id",
        "include_byok",
        "limit_usd",
        "remaining_usd",
        "reset_interval",
        "resets_at",
        "scope",
        "spend_usd",
    ],
    "additionalProperties": False,
}
DOCUMENTED_EXTRAS += [
    (_KEY_DATA, "budgets", {"type": "array", "items": KEY_BUDGET}),
    (_KEY_DATA, "effective_budget", {"anyOf": [KEY_BUDGET, {"type": "null"}]}),
    (
        _KEY_DATA,
        "allowed_data_regions",
        {"type": "array", "items": {"enum": ["global", "europe", "us"]}},
    ),
    (
        _KEY_DATA,
        "free_model_daily_requests",
        {
            "type": "object",
            "properties": {
                "used": {"type": "integer"},
                "limit": {"type": "integer"},
                "remaining": {"type": "integer"},
            },
            "required": ["used", "limit", "remaining"],
            "additionalProperties": False,
        },
    ),
    (_KEY_DATA, "organization_id", _NULLABLE_STRING),
    (_KEY_DATA, "workspace_id", _NULLABLE_STRING),
]

# docs/openrouter.md#image-response / docs/openrouter.md#known-gotchas: token counts can be floats (14417.92) although the schema says integer. The
# fractional-tokens fault is checked against a copy where these are numbers.
FRACTIONAL_TOKEN_FIELDS: list[tuple[str, ...]] = [
    (*SCHEMAS, usage, "properties", field)
    for usage in ("ImageGenerationUsage", "ChatUsage")
    for field in ("prompt_tokens", "completion_tokens", "total_tokens")
] + [
    (*SCHEMAS, usage, "properties", "completion_tokens_details", "properties", "image_tokens")
    for usage in ("ImageGenerationUsage", "ChatUsage")
]

# docs/openrouter.md#envelope: a validation error on /models?output_modalities=<bad> is a ZodError body, not the envelope.
ZOD_ERROR = {
    "type": "object",
    "properties": {
        "success": {"const": False},
        "error": {
            "type": "object",
            "properties": {"name": {"const": "ZodError"}, "message": {"type": "string"}},
            "required": ["name", "message"],
            "additionalProperties": False,
        },
    },
    "required": ["success", "error"],
    "additionalProperties": False,
}

# The error schema for a status, for statuses a path does not list (the sandbox can inject any
# status anywhere). All *Response error schemas are the same docs/openrouter.md#envelope envelope; 405 and the like have
# none of their own and use BadRequestResponse's.
STATUS_SCHEMAS = {
    400: "BadRequestResponse",
    401: "UnauthorizedResponse",
    402: "PaymentRequiredResponse",
    403: "ForbiddenResponse",
    404: "NotFoundResponse",
    408: "RequestTimeoutResponse",
    413: "PayloadTooLargeResponse",
    422: "UnprocessableEntityResponse",
    429: "TooManyRequestsResponse",
    500: "InternalServerResponse",
    502: "BadGatewayResponse",
    503: "ServiceUnavailableResponse",
    524: "EdgeNetworkTimeoutResponse",
    529: "ProviderOverloadedResponse",
}


@functools.cache
def openapi() -> dict[str, Any]:
    with OPENAPI.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def _at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for part in path:
        node = node[part]
    return node


def make_strict(document: dict[str, Any], extras: bool = True) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    if extras:
        for path, name, schema in DOCUMENTED_EXTRAS:
            properties = _at(doc, path)
            assert name not in properties, f"the OpenAPI now has {name}; drop it from the allowlist"
            properties[name] = schema
    # A member of an allOf must stay open: the other members add the rest of the properties.
    allof_refs = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for member in node.get("allOf", []):
                if isinstance(member, dict) and "$ref" in member:
                    allof_refs.add(member["$ref"].rsplit("/", 1)[1])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(doc)

    def close(node: Any, open_: bool = False) -> None:
        if isinstance(node, list):
            for value in node:
                close(value)
            return
        if not isinstance(node, dict):
            return
        if (
            "properties" in node
            and "additionalProperties" not in node
            and "unevaluatedProperties" not in node
            and not open_
        ):
            node["additionalProperties"] = False
        for key, value in node.items():
            if key in ("example", "examples", "enum", "const", "default"):
                continue
            if key == "properties":
                for schema in value.values():
                    close(schema)
            elif key == "allOf":
                for member in value:
                    close(member, open_=True)
            else:
                close(value)

    for name, schema in doc["components"]["schemas"].items():
        close(schema, open_=name in allof_refs)
    close(doc["paths"])
    return doc


@functools.cache
def strict_document() -> dict[str, Any]:
    return make_strict(openapi())


@functools.cache
def fractional_document() -> dict[str, Any]:
    doc = copy.deepcopy(strict_document())
    for path in FRACTIONAL_TOKEN_FIELDS:
        schema = _at(doc, path)
        schema["type"] = ["number", "null"] if isinstance(schema["type"], list) else "number"
    return doc


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def schema_pointer(path: str, method: str, status: int) -> str:
    """The OpenAPI's response schema for path+method+status (or the status's error schema)."""
    responses = openapi()["paths"][path][method.lower()]["responses"]
    if str(status) in responses:
        return (
            "/"
            + "/".join(
                _escape(p)
                for p in ("paths", path, method.lower(), "responses", str(status), "content")
            )
            + "/application~1json/schema"
        )
    return f"/components/schemas/{STATUS_SCHEMAS.get(status, 'BadRequestResponse')}"


_registries: dict[int, Registry[Any]] = {}


def validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry = _registries.get(id(document))
    if registry is None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        registry = _registries[id(document)] = Registry().with_resource(BASE, resource)
    return Draft202012Validator({"$ref": f"{BASE}#{pointer}"}, registry=registry)


def errors(body: Any, pointer: str, document: dict[str, Any] | None = None) -> list[str]:
    checker = validator(document or strict_document(), pointer)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in checker.iter_errors(body)
    ]


# --- the cases ------------------------------------------------------------------------------------

Build = Callable[[Sandbox, httpx.Client], httpx.Response]


@dataclass(frozen=True)
class Case:
    label: str
    path: str  # the OpenAPI path
    method: str
    status: int
    build: Build
    pointer: str | None = None  # a schema other than the path's (documented per case)
    document: str = "strict"  # or "fractional"
    sse: bool = False


def _fault(route: str, fault: Fault, then: Build) -> Build:
    def build(sb: Sandbox, c: httpx.Client) -> httpx.Response:
        sb.push_fault(route, fault)
        return then(sb, c)

    return build


def _images(**fields: Any) -> Build:
    return lambda sb, c: generate(c, **fields)


def _chat(content: Any = "a lighthouse", **fields: Any) -> Build:
    return lambda sb, c: chat(c, content, **fields)


def _get(path: str, **params: Any) -> Build:
    return lambda sb, c: c.get(path, params=params)


def _anon(method: str, path: str, **kwargs: Any) -> Build:
    return lambda sb, c: httpx.request(method, sb.base_url + path, **kwargs)


def _bad_key(method: str, path: str, **kwargs: Any) -> Build:
    headers = {"Authorization": "Bearer sk-or-v1-wrong"}
    return lambda sb, c: httpx.request(method, sb.base_url + path, headers=headers, **kwargs)


def _poor(then: Build) -> Build:
    def build(_: Sandbox, __: httpx.Client) -> httpx.Response:
        with (
            Sandbox(SandboxConfig(balance_usd="0.01")) as sb,
            httpx.Client(
                base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}
            ) as c,
        ):
            return then(sb, c)

    return build


def _capped(path: str, body: dict[str, Any]) -> Build:
    def build(_: Sandbox, __: httpx.Client) -> httpx.Response:
        with Sandbox(SandboxConfig(max_body_bytes=512)) as sb:
            return httpx.post(
                sb.base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
            )

    return build


def _generation_of(first: Build) -> Build:
    def build(sb: Sandbox, c: httpx.Client) -> httpx.Response:
        gen_id = first(sb, c).headers["x-generation-id"]
        return c.get("/generation", params={"id": gen_id})

    return build


def _status_faults(
    route: str, path: str, method: str, then: Build, statuses: list[int]
) -> list[Case]:
    return [
        Case(
            f"{route} {status} fault",
            path,
            method,
            status,
            _fault(route, Fault(status=status), then),
        )
        for status in statuses
    ]


def _crash(sb: Sandbox, c: httpx.Client) -> httpx.Response:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    assert sb.api is not None
    sb.api._handlers["key"] = explode  # type: ignore[assignment]
    return c.get("/key")


REF = ref(data_url(1200, 900, "JPEG"))
CHAT_BODY = {
    "model": PRO,
    "messages": [{"role": "user", "content": "x" * 600}],
    "modalities": ["image"],
}
ERROR_STATUSES = [400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 524, 529]
IMG, CHAT_PATH = "/images", "/chat/completions"

CASES: list[Case] = [
    # POST /images
    Case("images jpeg", IMG, "POST", 200, _images()),
    Case(
        "images png + refs",
        IMG,
        "POST",
        200,
        _images(model=MAX, output_format="png", input_references=[REF, REF]),
    ),
    Case(
        "images 2048 passthrough",
        IMG,
        "POST",
        200,
        _images(
            model=KLEIN,
            provider={"options": {"black-forest-labs": {"width": 2048, "height": 2048}}},
        ),
    ),
    Case(
        "images empty-data", IMG, "POST", 200, _fault("images", Fault(kind="empty-data"), _images())
    ),
    Case(
        "images missing media type",
        IMG,
        "POST",
        200,
        _fault("images", Fault(kind="missing-media-type"), _images()),
    ),
    Case(
        "images lying media type",
        IMG,
        "POST",
        200,
        _fault("images", Fault(kind="lying-media-type"), _images()),
    ),
    Case(
        "images corrupt base64",
        IMG,
        "POST",
        200,
        _fault("images", Fault(kind="corrupt-base64"), _images()),
    ),
    Case(
        "images leading whitespace",
        IMG,
        "POST",
        200,
        _fault("images", Fault(kind="leading-whitespace"), _images()),
    ),
    Case(
        "images fractional tokens",
        IMG,
        "POST",
        200,
        _fault("images", Fault(kind="fractional-tokens"), _images()),
        document="fractional",
    ),
    # docs/openrouter.md#errors-with-http-200: a 200 whose body is only an error: the 502 error schema, not ImageGenerationResponse.
    Case(
        "images error in 200",
        IMG,
        "POST",
        200,
        _fault("images", Fault(kind="error-in-200"), _images()),
        pointer="/components/schemas/BadGatewayResponse",
    ),
    Case("images invalid model", IMG, "POST", 400, _images(model="pro")),
    Case("images n=2", IMG, "POST", 400, _images(n=2)),
    Case("images webp + size", IMG, "POST", 400, _images(output_format="webp", size="2K")),
    Case("images bad json", IMG, "POST", 400, lambda sb, c: c.post(IMG, content=b"{")),
    Case(
        "images invalid image",
        IMG,
        "POST",
        400,
        _images(input_references=[ref("data:image/png;base64,AAAA")]),
    ),
    Case(
        "images bad passthrough size",
        IMG,
        "POST",
        400,
        _images(provider={"options": {"black-forest-labs": {"width": 100}}}),
    ),
    Case("images no key", IMG, "POST", 401, _anon("POST", IMG, json={})),
    Case("images bad key", IMG, "POST", 401, _bad_key("POST", IMG, json={})),
    Case("images out of credits", IMG, "POST", 402, _poor(_images())),
    Case(
        "images 402 key limit",
        IMG,
        "POST",
        402,
        _fault("images", Fault(status=402, variant="key-limit"), _images()),
    ),
    Case(
        "images image not found",
        IMG,
        "POST",
        404,
        lambda sb, c: generate(c, input_references=[ref(sb.file_url("gone.jpg"))]),
    ),
    Case("images too large", IMG, "POST", 413, _capped(IMG, {"model": PRO, "prompt": "x" * 600})),
    Case(
        "images 429 upstream",
        IMG,
        "POST",
        429,
        _fault("images", Fault(status=429, variant="upstream", retry_after=1), _images()),
    ),
    *_status_faults("images", IMG, "POST", _images(), ERROR_STATUSES),
    # POST /chat/completions
    Case("chat", CHAT_PATH, "POST", 200, _chat()),
    Case(
        "chat parts + refs + ratio",
        CHAT_PATH,
        "POST",
        200,
        _chat([{"type": "text", "text": "x"}, REF], image_config={"aspect_ratio": "9:16"}),
    ),
    Case(
        "chat https url", CHAT_PATH, "POST", 200, _fault("chat", Fault(kind="https-url"), _chat())
    ),
    Case(
        "chat empty-data", CHAT_PATH, "POST", 200, _fault("chat", Fault(kind="empty-data"), _chat())
    ),
    Case(
        "chat missing media type",
        CHAT_PATH,
        "POST",
        200,
        _fault("chat", Fault(kind="missing-media-type"), _chat()),
    ),
    Case(
        "chat fractional tokens",
        CHAT_PATH,
        "POST",
        200,
        _fault("chat", Fault(kind="fractional-tokens"), _chat()),
        document="fractional",
    ),
    Case(
        "chat error in 200",
        CHAT_PATH,
        "POST",
        200,
        _fault("chat", Fault(kind="error-in-200"), _chat()),
        pointer="/components/schemas/BadGatewayResponse",
    ),
    Case(
        "chat stream",
        CHAT_PATH,
        "POST",
        200,
        _chat(stream=True),
        pointer="/components/schemas/ChatStreamChunk",
        sse=True,
    ),
    Case(
        "chat stream error",
        CHAT_PATH,
        "POST",
        200,
        _fault("chat", Fault(kind="error-in-200", status=429), _chat(stream=True)),
        pointer="/components/schemas/ChatStreamChunk",
        sse=True,
    ),
    Case("chat invalid model", CHAT_PATH, "POST", 400, _chat(model="max")),
    Case("chat bad ratio", CHAT_PATH, "POST", 400, _chat(image_config={"aspect_ratio": "4:5"})),
    Case("chat no messages", CHAT_PATH, "POST", 400, _chat(messages=[])),
    Case("chat no key", CHAT_PATH, "POST", 401, _anon("POST", CHAT_PATH, json={})),
    Case("chat out of credits", CHAT_PATH, "POST", 402, _poor(_chat())),
    Case("chat image+text", CHAT_PATH, "POST", 404, _chat(modalities=["image", "text"])),
    Case("chat too large", CHAT_PATH, "POST", 413, _capped(CHAT_PATH, CHAT_BODY)),
    *_status_faults("chat", CHAT_PATH, "POST", _chat(), ERROR_STATUSES),
    # catalog
    Case("image models", "/images/models", "GET", 200, _get("/images/models")),
    *_status_faults(
        "image-models", "/images/models", "GET", _get("/images/models"), [429, 500, 503]
    ),
    *[
        Case(
            f"endpoints {m}",
            "/images/models/{author}/{slug}/endpoints",
            "GET",
            200,
            _get(f"/images/models/{m}/endpoints"),
        )
        for m in (PRO, MAX, KLEIN)
    ],
    Case(
        "endpoints unknown",
        "/images/models/{author}/{slug}/endpoints",
        "GET",
        404,
        _get("/images/models/acme/nope/endpoints"),
    ),
    *_status_faults(
        "endpoints",
        "/images/models/{author}/{slug}/endpoints",
        "GET",
        _get(f"/images/models/{PRO}/endpoints"),
        [500, 502],
    ),
    Case("models image", "/models", "GET", 200, _get("/models", output_modalities="image")),
    Case("models default", "/models", "GET", 200, _get("/models")),
    Case("models all", "/models", "GET", 200, _get("/models", output_modalities="all")),
    # docs/openrouter.md#envelope: recorded ZodError shape, which the OpenAPI's BadRequestResponse does not describe.
    Case(
        "models bad filter",
        "/models",
        "GET",
        400,
        _get("/models", output_modalities="nope"),
        pointer="zod",
    ),
    *_status_faults("models", "/models", "GET", _get("/models"), [403, 500]),
    # account
    Case("generation images", "/generation", "GET", 200, _generation_of(_images())),
    Case("generation chat", "/generation", "GET", 200, _generation_of(_chat())),
    Case("generation unknown", "/generation", "GET", 404, _get("/generation", id="gen-1-nope")),
    Case("generation no id", "/generation", "GET", 400, _get("/generation")),
    Case("generation no key", "/generation", "GET", 401, _anon("GET", "/generation?id=x")),
    *_status_faults(
        "generation",
        "/generation",
        "GET",
        _get("/generation", id="x"),
        [402, 429, 500, 502, 524, 529],
    ),
    Case("key", "/key", "GET", 200, _get("/key")),
    Case("key after spend", "/key", "GET", 200, lambda sb, c: (generate(c), c.get("/key"))[1]),
    Case("key no key", "/key", "GET", 401, _anon("GET", "/key")),
    *_status_faults("key", "/key", "GET", _get("/key"), [500]),
    Case("credits", "/credits", "GET", 200, _get("/credits")),
    Case("credits no key", "/credits", "GET", 401, _bad_key("GET", "/credits")),
    Case(
        "credits management",
        "/credits",
        "GET",
        403,
        _fault("credits", Fault(status=403, variant="management"), _get("/credits")),
    ),
    *_status_faults("credits", "/credits", "GET", _get("/credits"), [500]),
    # outside the routes: the envelope (no path in the OpenAPI; NotFound/BadRequest schemas)
    Case(
        "unknown path",
        "/images",
        "POST",
        404,
        _anon("GET", "/images/generations"),
        pointer="/components/schemas/NotFoundResponse",
    ),
    Case(
        "wrong method",
        "/images",
        "POST",
        405,
        _anon("GET", IMG),
        pointer="/components/schemas/BadRequestResponse",
    ),
    Case(
        "internal error",
        "/key",
        "GET",
        500,
        _crash,
    ),
]


def _bodies(response: httpx.Response, sse: bool) -> Iterator[Any]:
    if not sse:
        yield json.loads(
            response.content
        )  # tolerates docs/openrouter.md#errors-with-http-200 leading whitespace, like clients must
        return
    for event in response.text.split("\n\n"):
        if event.startswith("data: {"):
            yield json.loads(event.removeprefix("data: "))


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_body_conforms_to_the_openapi(case: Case, sandbox: Sandbox, client: httpx.Client) -> None:
    response = case.build(sandbox, client)
    assert response.status_code == case.status, response.text[:300]
    if case.pointer == "zod":
        bodies = list(_bodies(response, case.sse))
        assert (
            errors(
                bodies[0],
                "/components/schemas/ZodError",
                {"components": {"schemas": {"ZodError": ZOD_ERROR}}},
            )
            == []
        )
        return
    pointer = case.pointer or schema_pointer(case.path, case.method, case.status)
    document = fractional_document() if case.document == "fractional" else strict_document()
    bodies = list(_bodies(response, case.sse))
    assert bodies
    for body in bodies:
        assert errors(body, pointer, document) == [], json.dumps(body)[:500]


def test_every_route_and_status_is_covered() -> None:
    covered = {(c.path, c.status) for c in CASES}
    for path, methods in [
        ("/images", "post"),
        ("/chat/completions", "post"),
        ("/images/models", "get"),
        ("/images/models/{author}/{slug}/endpoints", "get"),
        ("/models", "get"),
        ("/generation", "get"),
        ("/key", "get"),
        ("/credits", "get"),
    ]:
        listed = {int(s) for s in openapi()["paths"][path][methods]["responses"]}
        missing = {s for s in listed if (path, s) not in covered}
        assert not missing, f"{path}: no conformance case for {sorted(missing)}"


def test_the_fractional_relaxation_is_needed() -> None:
    """The strict schema does refuse float tokens: the relaxation is not hiding anything else."""
    with (
        Sandbox() as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        sb.push_fault("images", Fault(kind="fractional-tokens"))
        body = generate(c).json()
    pointer = schema_pointer("/images", "POST", 200)
    assert errors(body, pointer)
    assert errors(body, pointer, fractional_document()) == []


# --- the check can fail -------------------------------------------------------------------------


def _rename(body: dict[str, Any], path: tuple[Any, ...], new: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[new] = node.pop(path[-1])
    return changed


MUTATIONS: list[tuple[str, str, str, int, Build, tuple[Any, ...], str]] = [
    ("b64_json", "/images", "POST", 200, _images(), ("data", 0, "b64_json"), "b64"),
    ("usage.cost", "/images", "POST", 200, _images(), ("usage", "cost"), "costs"),
    ("created", "/images", "POST", 200, _images(), ("created",), "X"),
    ("media_type", "/images", "POST", 200, _images(), ("data", 0, "media_type"), "mediaType"),
    (
        "image_tokens",
        "/images",
        "POST",
        200,
        _images(),
        ("usage", "completion_tokens_details", "image_tokens"),
        "images",
    ),
    ("chat provider", "/chat/completions", "POST", 200, _chat(), ("provider",), "providers"),
    (
        "chat image type",
        "/chat/completions",
        "POST",
        200,
        _chat(),
        ("choices", 0, "message", "images", 0, "type"),
        "kind",
    ),
    (
        "chat native_finish_reason",
        "/chat/completions",
        "POST",
        200,
        _chat(),
        ("choices", 0, "native_finish_reason"),
        "native",
    ),
    ("error message", "/images", "POST", 400, _images(n=3), ("error", "message"), "msg"),
    ("key label", "/key", "GET", 200, _get("/key"), ("data", "label"), "name"),
    ("credits total", "/credits", "GET", 200, _get("/credits"), ("data", "total_usage"), "usage"),
    (
        "generation total_cost",
        "/generation",
        "GET",
        200,
        _generation_of(_images()),
        ("data", "total_cost"),
        "cost",
    ),
    (
        "model canonical_slug",
        "/models",
        "GET",
        200,
        _get("/models", output_modalities="image"),
        ("data", 0, "canonical_slug"),
        "slug",
    ),
    (
        "endpoint provider_slug",
        "/images/models/{author}/{slug}/endpoints",
        "GET",
        200,
        _get(f"/images/models/{PRO}/endpoints"),
        ("endpoints", 0, "provider_slug"),
        "slug",
    ),
    (
        "pricing cost_usd",
        "/images/models/{author}/{slug}/endpoints",
        "GET",
        200,
        _get(f"/images/models/{PRO}/endpoints"),
        ("endpoints", 0, "pricing", 0, "cost_usd"),
        "usd",
    ),
    (
        "capability values",
        "/images/models",
        "GET",
        200,
        _get("/images/models"),
        ("data", 0, "supported_parameters", "aspect_ratio", "values"),
        "options",
    ),
]


@pytest.mark.parametrize(
    ("label", "path", "method", "status", "build", "field_path", "new_name"),
    MUTATIONS,
    ids=[m[0] for m in MUTATIONS],
)
def test_a_renamed_field_fails_validation(
    sandbox: Sandbox,
    client: httpx.Client,
    label: str,
    path: str,
    method: str,
    status: int,
    build: Build,
    field_path: tuple[Any, ...],
    new_name: str,
) -> None:
    response = build(sandbox, client)
    assert response.status_code == status
    body = response.json()
    pointer = schema_pointer(path, method, status)
    assert errors(body, pointer) == []
    assert errors(_rename(body, field_path, new_name), pointer), f"renaming {label} went unnoticed"


def test_an_invented_top_level_field_fails(sandbox: Sandbox, client: httpx.Client) -> None:
    body = generate(client).json()
    body["X"] = 1
    assert errors(body, schema_pointer("/images", "POST", 200))
    streamed = list(_bodies(chat(client, stream=True), sse=True))
    streamed[0]["choices"][0]["delta"]["imagez"] = []
    assert errors(streamed[0], "/components/schemas/ChatStreamChunk")
