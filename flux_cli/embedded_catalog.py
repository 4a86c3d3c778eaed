"""The embedded catalog: the four FLUX.2 models as OpenRouter describes them.

Pure data, no I/O. It serves three purposes: offline validation of flags, the default price table
(README.md#what-it-costs), and the records the sandbox serves from `/images/models` and `/endpoints`, so the
stand-in and the client can never disagree about a model.

Sources (docs/openrouter.md): capability records as recorded from `GET /images/models` on
2026-10-02 (docs/openrouter.md#image-request); `/models` fields (§7); prices from OpenRouter's model pages
(docs/openrouter-flux2.md#prices-on-openrouter). Marked UNCONFIRMED where no public copy exists: the exact `pricing[]` line
encoding, klein-4b's reference limit (4, one source), `allowed_passthrough_parameters` (mirrors the
parameters of BFL's native API), and the pixel sizes per aspect ratio other than 1:1.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER_NAME = "Black Forest Labs"
PROVIDER_SLUG = "black-forest-labs"

FLUX2_ASPECT_RATIOS: tuple[str, ...] = (
    "1:1",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "16:9",
    "9:16",
    "21:9",
    "auto",
)

# Output pixels per aspect ratio: about 1 MP with sides that are multiples of 16. 1:1 → 1024×1024 is
# recorded for FLUX; the rest follow OpenRouter's documented image_config map (UNCONFIRMED for
# FLUX), each at most 1,048,576 px so every one bills as one megapixel.
ASPECT_RATIO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "4:3": (1184, 864),
    "3:4": (864, 1184),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 672),
    "auto": (1024, 1024),
}


#: What a price line counts (docs/openrouter.md#price-units).
PRICE_UNITS = ("megapixel", "token", "image")


@dataclass(frozen=True)
class PriceRule:
    """Prices in integer micro-dollars (1 USD = 1,000,000).

    `unit` says what the source priced. For "megapixel" and "token" the three amounts are per
    started megapixel (a token price times 4,096, docs/openrouter.md#price-units); for "image"
    they are per image whatever its size. `prompt_token` prices each prompt token (an
    `input_text` line), counted as one per UTF-8 byte of the prompt, an upper bound.
    """

    first_output_mp: int
    extra_output_mp: int
    input_mp: int
    unit: str = "megapixel"
    prompt_token: int = 0


@dataclass(frozen=True)
class ModelInfo:
    id: str
    alias: str
    name: str
    description: str
    created: int
    context_length: int
    hugging_face_id: str
    aspect_ratios: tuple[str, ...]
    output_formats: tuple[str, ...]
    max_references: int
    price: PriceRule
    passthrough: tuple[str, ...]
    takes_seed: bool = True
    resolutions: tuple[str, ...] = ()

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def slug(self) -> str:
        return self.id.split("/", 1)[1]


_BFL_SIZE_KNOBS = ("width", "height", "safety_tolerance")

#: Black Forest Labs options flux2 has flags for, with the flag that sets each
#: (docs/openrouter-flux2.md#provider-options). Sent only where an endpoint allows them.
MODEL_OPTIONS: dict[str, str] = {
    "steps": "--steps",
    "guidance": "--guidance",
    "safety_tolerance": "--safety-tolerance",
    "prompt_upsampling": "--prompt-upsampling",
}

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="black-forest-labs/flux.2-pro",
        alias="pro",
        name="Black Forest Labs: FLUX.2 Pro",
        description="A high-end image generation and editing model with multi-reference support.",
        created=1764030274,
        context_length=46864,
        hugging_face_id="",
        aspect_ratios=FLUX2_ASPECT_RATIOS,
        output_formats=("png", "jpeg"),
        max_references=8,
        price=PriceRule(first_output_mp=30_000, extra_output_mp=15_000, input_mp=15_000),
        passthrough=(*_BFL_SIZE_KNOBS, "prompt_upsampling"),
    ),
    ModelInfo(
        id="black-forest-labs/flux.2-max",
        alias="max",
        name="Black Forest Labs: FLUX.2 Max",
        description="The highest-quality FLUX.2 model for generation and multi-reference editing.",
        created=1765857570,
        context_length=46864,
        hugging_face_id="",
        aspect_ratios=FLUX2_ASPECT_RATIOS,
        output_formats=("png", "jpeg"),
        max_references=8,
        price=PriceRule(first_output_mp=70_000, extra_output_mp=30_000, input_mp=30_000),
        passthrough=(*_BFL_SIZE_KNOBS, "prompt_upsampling"),
    ),
    ModelInfo(
        id="black-forest-labs/flux.2-flex",
        alias="flex",
        name="Black Forest Labs: FLUX.2 Flex",
        description="FLUX.2 with adjustable steps and guidance; strong at typography.",
        created=1764045987,
        context_length=67344,
        hugging_face_id="",
        aspect_ratios=FLUX2_ASPECT_RATIOS,
        output_formats=("png", "jpeg"),
        max_references=8,
        price=PriceRule(first_output_mp=60_000, extra_output_mp=60_000, input_mp=60_000),
        passthrough=(*_BFL_SIZE_KNOBS, "prompt_upsampling", "steps", "guidance"),
    ),
    ModelInfo(
        id="black-forest-labs/flux.2-klein-4b",
        alias="klein",
        name="Black Forest Labs: FLUX.2 Klein 4B",
        description="The fastest and cheapest FLUX.2 model, distilled to 4B parameters.",
        created=1768429228,
        context_length=40960,
        hugging_face_id="black-forest-labs/FLUX.2-klein-4B",
        aspect_ratios=FLUX2_ASPECT_RATIOS,
        output_formats=("png", "jpeg"),
        max_references=4,
        price=PriceRule(first_output_mp=14_000, extra_output_mp=1_000, input_mp=1_000),
        passthrough=_BFL_SIZE_KNOBS,
    ),
)

ALIASES: dict[str, str] = {m.alias: m.id for m in MODELS}
_BY_ID: dict[str, ModelInfo] = {m.id: m for m in MODELS}


def resolve_model_id(name: str) -> str:
    """An alias (`pro`) or a full OpenRouter id; ids pass through unchanged."""
    return ALIASES.get(name.strip().lower(), name.strip())


def embedded_model(model_id: str) -> ModelInfo | None:
    return _BY_ID.get(resolve_model_id(model_id))
