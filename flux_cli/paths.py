"""Where flux2 keeps things (README.md#configuration-and-environment): platformdirs, each overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "flux2"


def _from_env(var: str) -> Path | None:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    from platformdirs import user_config_path

    return _from_env("FLUX2_CONFIG_DIR") or user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    from platformdirs import user_data_path

    return _from_env("FLUX2_DATA_DIR") or user_data_path(APP_NAME, appauthor=False)


def cache_dir() -> Path:
    from platformdirs import user_cache_path

    return _from_env("FLUX2_CACHE_DIR") or user_cache_path(APP_NAME, appauthor=False)


def state_dir() -> Path:
    from platformdirs import user_state_path

    return _from_env("FLUX2_STATE_DIR") or user_state_path(APP_NAME, appauthor=False)
