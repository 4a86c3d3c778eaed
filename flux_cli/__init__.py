"""flux2: FLUX.2 images through OpenRouter, priced before and after every call."""

__version__ = "0.1.0"
__all__ = ["__version__"]
