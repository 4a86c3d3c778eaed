"""The catalog bodies, built from the embedded FLUX.2 records in flux_cli.models."""

from __future__ import annotations

from typing import Any

from flux_cli.models import MODELS, PROVIDER_NAME, PROVIDER_SLUG, ModelInfo
from flux_cli.sandbox.state import usd

SIZE_KNOBS = frozenset({"width", "height"})


def supported_parameters(model: ModelInfo) -> dict[str, Any]:
    # openrouter-protocol.md §2A: the recorded FLUX capability record, key for key.
    return {
        "aspect_ratio": {"type": "enum", "values": list(model.aspect_ratios)},
        "output_format": {"type": "enum", "values": list(model.output_formats)},
        "n": {"type": "range", "min": 1, "max": 1},
        "input_references": {"type": "range", "min": 0, "max": model.max_references},
        "seed": {"type": "boolean"},
    }


def image_model_item(model: ModelInfo) -> dict[str, Any]:
    # §2A: ImageModelListItem as recorded from GET /images/models.
    return {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "created": model.created,
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image"]},
        "supported_parameters": supported_parameters(model),
        "supports_streaming": False,
        "endpoints": f"/api/v1/images/models/{model.id}/endpoints",
    }


def image_models() -> dict[str, Any]:
    return {"data": [image_model_item(m) for m in MODELS]}


def passthrough(model: ModelInfo, size_passthrough: bool) -> list[str]:
    """The model's allowed passthrough keys; without size passthrough, width/height are gone."""
    return [p for p in model.passthrough if size_passthrough or p not in SIZE_KNOBS]


def pricing_lines(model: ModelInfo) -> list[dict[str, Any]]:
    # §7: ImagePricingEntry lines. The FLUX encoding (first vs additional megapixel, the input
    # line) is UNCONFIRMED; the variant names "first"/"additional" are ours.
    price = model.price
    return [
        {
            "billable": "output_image",
            "unit": "megapixel",
            "cost_usd": usd(price.first_output_mp),
            "variant": "first",
        },
        {
            "billable": "output_image",
            "unit": "megapixel",
            "cost_usd": usd(price.extra_output_mp),
            "variant": "additional",
        },
        {"billable": "input_reference", "unit": "megapixel", "cost_usd": usd(price.input_mp)},
    ]


def endpoints(model: ModelInfo, size_passthrough: bool) -> dict[str, Any]:
    # §7: the wrapper is {"id", "endpoints"} (not wrapped in "data"); the record shape follows the
    # recorded Gemini endpoint.
    return {
        "id": model.id,
        "endpoints": [
            {
                "provider_name": PROVIDER_NAME,
                "provider_slug": PROVIDER_SLUG,
                "provider_tag": PROVIDER_SLUG,
                "supported_parameters": supported_parameters(model),
                "allowed_passthrough_parameters": passthrough(model, size_passthrough),
                "supports_streaming": False,
                "pricing": pricing_lines(model),
            }
        ],
    }


def model_record(model: ModelInfo) -> dict[str, Any]:
    # §7: the recorded /models entry for FLUX (pricing "0"/"0": /models hides the MP price).
    return {
        "id": model.id,
        "canonical_slug": model.id,
        "hugging_face_id": model.hugging_face_id,
        "name": model.name,
        "created": model.created,
        "description": model.description,
        "context_length": model.context_length,
        "architecture": {
            "modality": "text+image->image",
            "input_modalities": ["text", "image"],
            "output_modalities": ["image"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": "0", "completion": "0"},
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": None,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": ["seed"],
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{model.id}/endpoints"},
    }


# OpenAPI `OutputModality` plus "all" (§7: "comma list … or `all`; default `text`").
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
    # The sandbox knows only the four FLUX.2 models, whose only output is an image; the default
    # `text` filter therefore lists nothing (the real API lists the text models there).
    data = [model_record(m) for m in MODELS if "all" in wanted or "image" in wanted]
    return {"data": data, "total_count": len(data), "links": {"next": None}}
