"""The /api/v1 routes: matching, faults, auth, and the catalog and account answers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flux_cli.embedded_catalog import PROVIDER_NAME
from flux_cli.sandbox import catalog
from flux_cli.sandbox.fault_replies import apply_transport, error_in_200_payload, status_reply
from flux_cli.sandbox.faults import GENERATION_ROUTES, Fault, FaultBoard
from flux_cli.sandbox.image_jobs import generation_id, produce
from flux_cli.sandbox.image_replies import chat_reply, images_reply
from flux_cli.sandbox.image_requests import Context, parse_chat, parse_images, parse_object
from flux_cli.sandbox.keys import authenticate, key_label
from flux_cli.sandbox.state import Ledger, RecordedRequest, usd, window_end, window_start
from flux_cli.sandbox.wire import (
    SANDBOX_USER_ID,
    ApiError,
    Reply,
    Request,
    error_payload,
    invalid_request,
)

_BY_ID = catalog.BY_ID
_ENDPOINTS_PATH = re.compile(r"/images/models/([^/]+)/([^/]+)/endpoints")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"

Handler = Callable[[Request, RecordedRequest, "Fault | None"], Reply]


def match(path: str) -> tuple[str, str] | None:
    """(route name, method) for a path under /api/v1, or None for an unknown path."""
    fixed = {
        "/images": ("images", "POST"),
        "/chat/completions": ("chat", "POST"),
        "/images/models": ("image-models", "GET"),
        "/models": ("models", "GET"),
        "/generation": ("generation", "GET"),
        "/key": ("key", "GET"),
        "/auth/key": (
            "key",
            "GET",
        ),  # docs/openrouter.md#endpoints-and-headers: the legacy alias of /key
        "/credits": ("credits", "GET"),
    }
    if path in fixed:
        return fixed[path]
    if _ENDPOINTS_PATH.fullmatch(path):
        return ("endpoints", "GET")
    return None


class Api:
    def __init__(self, ctx: Context, faults: FaultBoard, generation_delay: float) -> None:
        self.ctx = ctx
        self.faults = faults
        self.generation_delay = generation_delay
        self._handlers: dict[str, Handler] = {
            "images": self._images,
            "chat": self._chat,
            "image-models": self._image_models,
            "endpoints": self._endpoints,
            "models": self._models,
            "generation": self._generation,
            "key": self._key,
            "credits": self._credits,
        }

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    def handle(self, request: Request, record: RecordedRequest) -> Reply:
        matched = match(request.path)
        if matched is None:
            # docs/openrouter.md#endpoints-and-headers: e.g. POST /images/generations → 404. The
            # real body is not recorded.
            return Reply(404, error_payload(404, "Not Found"))
        route, method = matched
        record.route = route
        if request.method not in (method, "HEAD" if method == "GET" else method):
            return Reply(405, error_payload(405, "Method Not Allowed"), headers={"Allow": method})
        fault = self.faults.take(route)
        if fault is not None:
            record.fault = fault.describe()
        if fault is not None and fault.kind == "status":
            model_id, prompt = _peek(request.body)
            reply = status_reply(
                fault,
                route,
                model_id=model_id,
                prompt=prompt,
                generation_id=request.query.get("id", ""),
            )
            return apply_transport(_with_generation_id(route, reply, record), fault)
        if fault is not None and fault.kind == "drop":
            return apply_transport(Reply(0), fault)
        if fault is not None and fault.kind == "error-in-200" and route not in GENERATION_ROUTES:
            return apply_transport(Reply(200, error_in_200_payload(fault)), fault)
        try:
            reply = self._handlers[route](request, record, fault)
        except ApiError as exc:
            reply = _with_generation_id(route, exc.reply(), record)
        return apply_transport(reply, fault)

    # --- generation ----------------------------------------------------------------------------

    def _images(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        key = authenticate(request, self.ctx.accepted_key)
        job = parse_images(parse_object(request.body), self.ctx)
        result = produce(
            job,
            key=key,
            api_type="image",
            id_prefix="gen-img",
            ctx=self.ctx,
            request_headers=request.headers,
            record=record,
            fault=fault,
        )
        reply = images_reply(result, fault)
        reply.latency = self.ctx.latency
        return reply

    def _chat(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        key = authenticate(request, self.ctx.accepted_key)
        job = parse_chat(parse_object(request.body), self.ctx)
        result = produce(
            job,
            key=key,
            api_type="completions",
            id_prefix="gen",
            ctx=self.ctx,
            request_headers=request.headers,
            record=record,
            fault=fault,
        )
        reply = chat_reply(job, result, fault, self.ctx)
        reply.latency = self.ctx.latency
        return reply

    # --- catalog (no key needed, docs/openrouter.md#endpoints-and-headers)
    # -----------------------------------------------------------

    def _image_models(
        self, request: Request, record: RecordedRequest, fault: Fault | None
    ) -> Reply:
        return Reply(200, catalog.image_models())

    def _endpoints(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        found = _ENDPOINTS_PATH.fullmatch(request.path)
        assert found is not None
        model_id = f"{found.group(1)}/{found.group(2)}"
        model = _BY_ID.get(model_id)
        if model is None:
            raise ApiError(404, f"Model {model_id} not found")
        mode = {"no-price": "none", "zero-price": "zero"}.get(fault.kind if fault else "")
        return Reply(200, catalog.endpoints(model, self.ctx.size_passthrough, mode))

    def _models(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        wanted = request.query.get("output_modalities")
        payload = catalog.models(wanted)
        if payload is None:
            # docs/openrouter.md#envelope: recorded for /models?output_modalities=<bad>: a ZodError
            # body, no numeric code.
            issues = [
                {
                    "code": "invalid_enum_value",
                    "options": [*catalog.OUTPUT_MODALITIES, "all"],
                    "path": ["output_modalities"],
                    "message": "Invalid output modality",
                    "received": wanted,
                }
            ]
            return Reply(
                400,
                {"success": False, "error": {"name": "ZodError", "message": json.dumps(issues)}},
            )
        return Reply(200, payload)

    # --- account -------------------------------------------------------------------------------

    def _generation(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        authenticate(request, self.ctx.accepted_key)
        gen_id = request.query.get("id", "")
        if not gen_id:
            raise invalid_request("id is required")
        found = self.ledger.find(gen_id)
        if found is None or time.monotonic() - found.created_monotonic < self.generation_delay:
            # docs/openrouter.md#generation-lookup: eventually consistent; 404 until the record
            # exists.
            raise ApiError(404, f"Generation {gen_id} not found")
        cost = usd(found.cost_micros)
        served = _BY_ID.get(found.model)
        provider = served.endpoint.provider_name if served else PROVIDER_NAME
        created = datetime.fromtimestamp(found.created_at, UTC)
        # docs/openrouter.md#generation-lookup: the recorded /generation body for a FLUX /images
        # call, field for field.
        data = {
            "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "model": found.model,
            "app_id": 0,
            "external_user": None,
            "streamed": found.streamed,
            "cancelled": False,
            "latency": found.generation_ms,
            "moderation_latency": 0,
            "generation_time": found.generation_ms,
            "tokens_prompt": found.prompt_tokens,
            "tokens_completion": found.completion_tokens,
            "native_tokens_prompt": found.prompt_tokens,
            "native_tokens_completion": found.completion_tokens,
            "native_tokens_completion_images": found.completion_tokens,
            "native_tokens_reasoning": None,
            "native_tokens_cached": None,
            "num_media_prompt": len(found.reference_sizes),
            "num_input_audio_prompt": None,
            "num_media_completion": 1,
            "num_search_results": None,
            "num_fetches": None,
            "web_search_engine": None,
            "origin": found.origin,
            "is_byok": False,
            "finish_reason": found.finish_reason,
            "native_finish_reason": found.finish_reason,
            "service_tier": None,
            "usage": cost,
            "router": None,
            "user_agent": None,
            "http_referer": found.http_referer,
            "request_id": None,
            "session_id": found.session_id,
            "preset_id": None,
            "api_type": found.api_type,
            "id": found.id,
            "upstream_id": None,
            "provider_responses": [
                {
                    "endpoint_id": _ZERO_UUID,
                    "is_byok": False,
                    "latency": found.generation_ms,
                    "model_permaslug": found.model,
                    "provider_name": provider,
                    "status": 200,
                }
            ],
            "total_cost": cost,
            "cache_discount": None,
            "upstream_inference_cost": 0,
            "provider_name": provider,
            "response_cache_source_id": None,
            "data_region": "global",
            "workspace_id": _ZERO_UUID,
        }
        return Reply(200, {"data": data})

    def _key(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        key = authenticate(request, self.ctx.accepted_key)
        now = datetime.now(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        week = day - timedelta(days=day.weekday())
        month = day.replace(day=1)

        def since(start: datetime) -> float:
            return usd(self.ledger.spent_since(key, start.timestamp()))

        budgets: list[dict[str, Any]] = []
        limit = self.ledger.key_budget_micros
        if limit is not None:
            interval = self.ledger.key_budget_interval
            spend = self.ledger.spent_since(key, window_start(interval))
            budgets.append(
                {
                    "budget_id": None,
                    "guardrail_id": None,
                    "include_byok": False,
                    "limit_usd": usd(limit),
                    "remaining_usd": usd(limit - spend),
                    "reset_interval": interval,
                    "resets_at": window_end(interval),
                    "scope": "api_key",
                    "spend_usd": usd(spend),
                }
            )
        effective = min(budgets, key=lambda b: b["remaining_usd"]) if budgets else None
        # The documented /key body (docs/openrouter.md#key); the key's own limit is null
        # (unlimited), its budgets are the api_key layer.
        data = {
            "label": key_label(key),
            "limit": None,
            "limit_remaining": None,
            "limit_reset": None,
            "include_byok_in_limit": False,
            "usage": usd(self.ledger.spent(key)),
            "usage_daily": since(day),
            "usage_weekly": since(week),
            "usage_monthly": since(month),
            "byok_usage": 0,
            "byok_usage_daily": 0,
            "byok_usage_weekly": 0,
            "byok_usage_monthly": 0,
            "is_free_tier": False,
            "is_management_key": False,
            "is_provisioning_key": False,
            "creator_user_id": SANDBOX_USER_ID,
            "expires_at": None,
            # The fields the current SDK requires (docs/openrouter.md#key).
            "budgets": budgets,
            "effective_budget": effective,
            "allowed_data_regions": ["global"],
            "free_model_daily_requests": {"used": 0, "limit": 1000, "remaining": 1000},
            "organization_id": None,
            "workspace_id": _ZERO_UUID,
            # docs/openrouter.md#key: legacy field, recorded as {requests: -1, interval: "10s",
            # note: …}.
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }
        return Reply(200, {"data": data})

    def _credits(self, request: Request, record: RecordedRequest, fault: Fault | None) -> Reply:
        authenticate(request, self.ctx.accepted_key)
        # docs/openrouter.md#credits: account-level totals in USD.
        return Reply(
            200,
            {
                "data": {
                    "total_credits": usd(self.ledger.balance_micros),
                    "total_usage": usd(self.ledger.spent()),
                }
            },
        )


def _with_generation_id(route: str, reply: Reply, record: RecordedRequest) -> Reply:
    """The live API sends X-Generation-Id on error answers to paid routes too
    (docs/openrouter.md#endpoints-and-headers)."""
    if route in GENERATION_ROUTES and not any(
        name.lower() == "x-generation-id" for name in reply.headers
    ):
        gen_id = generation_id("gen-img" if route == "images" else "gen")
        reply.headers["X-Generation-Id"] = gen_id
        if record.generation_id is None:
            record.generation_id = gen_id
    return reply


def _peek(body: bytes) -> tuple[str | None, str | None]:
    """The model and prompt of a request body, for fault bodies that quote them."""
    try:
        parsed: Any = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    model = parsed.get("model")
    prompt = parsed.get("prompt")
    if prompt is None and isinstance(parsed.get("messages"), list):
        for message in parsed["messages"]:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                prompt = message["content"]
    return (
        model if isinstance(model, str) else None,
        prompt if isinstance(prompt, str) else None,
    )
