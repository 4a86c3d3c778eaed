"""The `flux2` console script (`flux_cli.cli.main:main`). The entry point and the error boundary
it runs behind are one module, `flux_cli.cli.boundary`."""

from flux_cli.cli.boundary import main, run

__all__ = ["main", "run"]
