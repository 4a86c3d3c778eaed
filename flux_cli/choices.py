"""The closed lists of values flux2 accepts, declared once.

Validation, shell completion, the config file's schema and the help texts all read them from
here. This module imports nothing, so the paths of `--help`, `cost` and completion stay light.
"""

from __future__ import annotations

ROUTES = ("images", "chat")  # `--api`: which OpenRouter route a request takes
FORMATS = ("png", "jpeg", "webp")
FORMAT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}
METADATA_LEVELS = ("full", "minimal", "none")
# Requests at once in a batch (and for -n). The ceiling is set by the machine, not by flux2's
# scheduler: each request in flight holds one socket (a file descriptor), and OpenRouter's own
# rate limits apply per key (README, "Batches").
MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 256
DEFAULT_CONCURRENCY = 4
DEFAULT_NAME_TEMPLATE = "{date}-{time}-{model}-{seed}-{slug}.{ext}"
# The model options' ranges, as BFL documents them (docs/openrouter-flux2.md#provider-options).
STEPS_RANGE = (1, 50)
GUIDANCE_RANGE = (1.5, 10.0)
SAFETY_TOLERANCE_RANGE = (0, 6)


def completions(choices: tuple[str, ...], incomplete: str) -> list[str]:
    """The choices that start with what has been typed so far."""
    return [choice for choice in choices if choice.startswith(incomplete)]
