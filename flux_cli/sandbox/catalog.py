"""The sandbox's catalog: every model of the recorded live listing, plus the FLUX.2 models it omits.

`GET /images/models` serves the recorded records (docs/openrouter.md#image-catalog) with the
three FLUX.2 models the recording does not list (max, flex, klein-4b) built from the embedded
table. `/endpoints` serves one endpoint per model, with price lines in the forms the live API uses
(docs/openrouter.md#pricing-lines): token lines where they are recorded (gpt-image-2,
gemini-3.1-flash-image), the single megapixel line for FLUX.2, and for the rest sandbox prices
in the documented forms. What the sandbox charges is `SandboxModel.price`, the rule the client
derives from the same lines, so the estimate equals the charge; for FLUX.2 it is the model
pages' rule, of which the single line is the first megapixel.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from flux_cli.embedded_catalog import MODELS, PROVIDER_NAME, PROVIDER_SLUG, ModelInfo, PriceRule
from flux_cli.pricing import MICROS_PER_USD, TOKENS_PER_MEGAPIXEL
from flux_cli.sandbox.recorded import RECORDED_MODELS
from flux_cli.sandbox.state import usd

SIZE_KNOBS = frozenset({"width", "height"})


@dataclass(frozen=True)
class Endpoint:
    provider_name: str
    provider_slug: str
    pricing: tuple[dict[str, Any], ...]
    passthrough: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxModel:
    """One image model as the sandbox serves and runs it."""

    id: str
    record: dict[str, Any]  # the /images/models record, without `endpoints`
    endpoint: Endpoint
    price: PriceRule  # what a generation is charged
    alias: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        params = self.record.get("supported_parameters")
        return params if isinstance(params, dict) else {}

    def _enum(self, name: str) -> tuple[str, ...]:
        descriptor = self.params.get(name)
        return tuple(descriptor.get("values", ())) if isinstance(descriptor, dict) else ()

    def _range(self, name: str) -> tuple[int, int] | None:
        descriptor = self.params.get(name)
        if not isinstance(descriptor, dict):
            return None
        return int(descriptor.get("min", 0)), int(descriptor.get("max", 0))

    @property
    def aspect_ratios(self) -> tuple[str, ...]:
        return self._enum("aspect_ratio")

    @property
    def resolutions(self) -> tuple[str, ...]:
        return self._enum("resolution")

    @property
    def output_formats(self) -> tuple[str, ...]:
        return self._enum("output_format")

    @property
    def default_format(self) -> str:
        """FLUX.2 answers JPEG when no format is asked for (recorded); others their first format,
        or PNG."""
        formats = self.output_formats
        if "jpeg" in formats and self.id.startswith(PROVIDER_SLUG + "/"):
            return "jpeg"
        return formats[0] if formats else "png"

    @property
    def reference_range(self) -> tuple[int, int]:
        return self._range("input_references") or (0, 0)

    @property
    def max_references(self) -> int:
        return self.reference_range[1]

    @property
    def n_range(self) -> tuple[int, int] | None:
        return self._range("n")

    @property
    def takes_seed(self) -> bool:
        return "seed" in self.params

    @property
    def takes_size(self) -> bool:
        return "size" in self.params

    @property
    def passthrough(self) -> tuple[str, ...]:
        return self.endpoint.passthrough


def _line(billable: str, unit: str, cost_usd: str) -> dict[str, Any]:
    return {"billable": billable, "unit": unit, "cost_usd": float(Decimal(cost_usd))}


def _micros(cost_usd: str, per_mp: bool = False) -> int:
    amount = Decimal(cost_usd) * MICROS_PER_USD * (TOKENS_PER_MEGAPIXEL if per_mp else 1)
    return int(amount)


def _token_priced(
    provider: str,
    slug: str,
    output: str,
    image_in: str | None,
    text_in: str | None,
    passthrough: tuple[str, ...] = (),
) -> tuple[Endpoint, PriceRule]:
    lines = [_line("output_image", "token", output)]
    if image_in is not None:
        lines.insert(0, _line("input_image", "token", image_in))
    if text_in is not None:
        lines.insert(1 if image_in is not None else 0, _line("input_text", "token", text_in))
    out = _micros(output, per_mp=True)
    rule = PriceRule(
        first_output_mp=out,
        extra_output_mp=out,
        input_mp=_micros(image_in, per_mp=True) if image_in is not None else out,
        unit="token",
        prompt_token=_micros(text_in) if text_in is not None else 0,
    )
    return Endpoint(provider, slug, tuple(lines), tuple(passthrough)), rule


def _image_priced(
    provider: str, slug: str, output: str, image_in: str | None = None
) -> tuple[Endpoint, PriceRule]:
    lines = [_line("output_image", "image", output)]
    if image_in is not None:
        lines.append(_line("input_image", "image", image_in))
    out = _micros(output)
    rule = PriceRule(
        first_output_mp=out,
        extra_output_mp=0,
        input_mp=_micros(image_in) if image_in is not None else out,
        unit="image",
    )
    return Endpoint(provider, slug, tuple(lines)), rule


def _mp_priced(
    provider: str, slug: str, output: str, passthrough: tuple[str, ...] = ()
) -> tuple[Endpoint, PriceRule]:
    out = _micros(output)
    rule = PriceRule(first_output_mp=out, extra_output_mp=out, input_mp=out)
    return Endpoint(
        provider, slug, (_line("output_image", "megapixel", output),), passthrough
    ), rule


# Recorded: gpt-image-2 and gemini-3.1-flash-image (docs/openrouter.md#pricing-lines). The others
# are sandbox prices in the documented forms, not OpenRouter's.
_PRICED: dict[str, tuple[Endpoint, PriceRule]] = {
    "openai/gpt-image-2": _token_priced(
        "OpenAI", "openai", "0.00003", "0.000008", "0.000005", ("moderation",)
    ),
    "openai/gpt-image-1": _token_priced(
        "OpenAI", "openai", "0.00004", "0.00001", "0.000005", ("moderation",)
    ),
    "bytedance-seed/seedream-4.5": _image_priced("Seed", "seed", "0.04"),
    "recraft/recraft-v4.1-vector": _image_priced("Recraft", "recraft", "0.08"),
    "inclusionai/ming-image-0.1-design-layer": _image_priced(
        "inclusionAI", "inclusionai", "0.02", "0.01"
    ),
    "google/gemini-3.1-flash-image": _token_priced(
        "Google AI Studio", "google-ai-studio", "0.00006", None, None, ("cachedContent",)
    ),
    "google/gemini-3-pro-image": _token_priced(
        "Google AI Studio", "google-ai-studio", "0.00012", None, None, ("cachedContent",)
    ),
    "krea/krea-2-medium": _mp_priced("Krea", "krea", "0.03"),
    "qwen/qwen-image-3": _image_priced("Alibaba", "alibaba", "0.03"),
    "x-ai/grok-imagine-image-2.0": _image_priced("xAI", "xai", "0.07"),
    "sourceful/riverflow-v2.5-fast": _image_priced("Sourceful", "sourceful", "0.02"),
    "meta/muse-image": _image_priced("Meta", "meta", "0.04"),
    "microsoft/mai-image-2.6": _image_priced("Microsoft", "microsoft", "0.03"),
    "black-forest-labs/flux-3-image": _mp_priced(
        PROVIDER_NAME, PROVIDER_SLUG, "0.04", ("safety_tolerance", "prompt_upsampling")
    ),
}


def _flux2_record(model: ModelInfo) -> dict[str, Any]:
    # The recorded FLUX capability record, key for key (docs/openrouter.md#image-catalog).
    return {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "created": model.created,
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image"]},
        "supported_parameters": {
            "aspect_ratio": {"type": "enum", "values": list(model.aspect_ratios)},
            "output_format": {"type": "enum", "values": list(model.output_formats)},
            "n": {"type": "range", "min": 1, "max": 1},
            "input_references": {"type": "range", "min": 0, "max": model.max_references},
            "seed": {"type": "boolean"},
        },
        "supports_streaming": False,
    }


def _flux2(model: ModelInfo, record: dict[str, Any] | None) -> SandboxModel:
    # One line, the first megapixel's price (docs/openrouter-flux2.md#prices-on-openrouter).
    line = _line("output_image", "megapixel", str(usd(model.price.first_output_mp)))
    endpoint = Endpoint(PROVIDER_NAME, PROVIDER_SLUG, (line,), model.passthrough)
    return SandboxModel(
        model.id, record or _flux2_record(model), endpoint, model.price, model.alias
    )


def _alias(model_id: str) -> str:
    return model_id.split("/", 1)[1]


def _build() -> tuple[SandboxModel, ...]:
    embedded = {m.id: m for m in MODELS}
    built: list[SandboxModel] = []
    for record in RECORDED_MODELS:
        model_id = record["id"]
        if model_id in embedded:
            built.append(_flux2(embedded.pop(model_id), dict(record)))
            continue
        endpoint, rule = _PRICED[model_id]
        model = SandboxModel(model_id, dict(record), endpoint, rule, _alias(model_id))
        if model.max_references == 0:
            model = replace(model, price=replace(rule, input_mp=0))  # nothing to price
        built.append(model)
    built.extend(_flux2(m, None) for m in embedded.values())
    return tuple(built)


SANDBOX_MODELS: tuple[SandboxModel, ...] = _build()
BY_ID: dict[str, SandboxModel] = {m.id: m for m in SANDBOX_MODELS}


def image_model_item(model: SandboxModel) -> dict[str, Any]:
    # ImageModelListItem as recorded from GET /images/models. A fresh copy each time: a caller
    # may change what it gets, never the catalog.
    record = copy.deepcopy(model.record)
    return {**record, "endpoints": f"/api/v1/images/models/{model.id}/endpoints"}


def image_models() -> dict[str, Any]:
    return {"data": [image_model_item(m) for m in SANDBOX_MODELS]}


def passthrough(model: SandboxModel, size_passthrough: bool) -> list[str]:
    """The model's allowed passthrough keys; without size passthrough, width/height are gone."""
    return [p for p in model.passthrough if size_passthrough or p not in SIZE_KNOBS]


def pricing_lines(model: SandboxModel, mode: str | None = None) -> list[dict[str, Any]]:
    """The endpoint's lines; `mode` "none" serves no lines, "zero" every line at $0."""
    if mode == "none":
        return []
    lines = [dict(line) for line in model.endpoint.pricing]
    if mode == "zero":
        for line in lines:
            line["cost_usd"] = 0
    return lines


def endpoints(
    model: SandboxModel, size_passthrough: bool, mode: str | None = None
) -> dict[str, Any]:
    # The wrapper is {"id", "endpoints"} (not wrapped in "data"); the record shape follows the
    # recorded endpoints (docs/openrouter.md#image-catalog).
    endpoint = model.endpoint
    return {
        "id": model.id,
        "endpoints": [
            {
                "provider_name": endpoint.provider_name,
                "provider_slug": endpoint.provider_slug,
                "provider_tag": endpoint.provider_slug,
                "supported_parameters": copy.deepcopy(model.params),
                "allowed_passthrough_parameters": passthrough(model, size_passthrough),
                "supports_streaming": bool(model.record.get("supports_streaming")),
                "pricing": pricing_lines(model, mode),
            }
        ],
    }


def model_record(model: SandboxModel) -> dict[str, Any]:
    # The recorded /models entry for FLUX (pricing "0"/"0": /models hides image prices,
    # docs/openrouter.md#models-list).
    embedded = next((m for m in MODELS if m.id == model.id), None)
    context = embedded.context_length if embedded else 0
    inputs = list(model.record.get("architecture", {}).get("input_modalities", ["text"]))
    outputs = list(model.record.get("architecture", {}).get("output_modalities", ["image"]))
    return {
        "id": model.id,
        "canonical_slug": model.id,
        "hugging_face_id": embedded.hugging_face_id if embedded else "",
        "name": model.record.get("name", model.id),
        "created": model.record.get("created", 0),
        "description": model.record.get("description", ""),
        "context_length": context,
        "architecture": {
            "modality": "+".join(inputs) + "->" + "+".join(outputs),
            "input_modalities": inputs,
            "output_modalities": outputs,
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": "0", "completion": "0"},
        "top_provider": {
            "context_length": context,
            "max_completion_tokens": None,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": ["seed"] if model.takes_seed else [],
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{model.id}/endpoints"},
    }


# OpenAPI `OutputModality` plus "all" (`/models` takes a comma list or `all`; default `text`).
OUTPUT_MODALITIES = (
    "text",
    "image",
    "embeddings",
    "audio",
    "video",
    "rerank",
    "speech",
    "transcription",
)


def models(output_modalities: str | None) -> dict[str, Any] | None:
    """The /models envelope for a filter, or None when the filter names an unknown modality."""
    wanted = {m.strip().lower() for m in (output_modalities or "text").split(",") if m.strip()}
    if not wanted:
        wanted = {"text"}
    if "all" not in wanted and not wanted <= set(OUTPUT_MODALITIES):
        return None
    data = []
    for model in SANDBOX_MODELS:
        outputs = set(model.record.get("architecture", {}).get("output_modalities", ["image"]))
        if "all" in wanted or outputs & wanted:
            data.append(model_record(model))
    return {"data": data, "total_count": len(data), "links": {"next": None}}
