"""Model references, local files, and the two generation backends (llama.cpp, transformers)."""

from safedrift.models.resolve import ResolvedModel, resolve_model

__all__ = ["ResolvedModel", "resolve_model"]
