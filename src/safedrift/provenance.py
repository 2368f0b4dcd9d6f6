"""What a result row must carry so another lab can reproduce it."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from importlib import metadata

_PACKAGES = ("safedrift", "torch", "transformers", "peft", "llama_cpp_python", "gguf", "duckdb",
             "numpy", "scipy", "statsmodels")


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def cache_dir() -> "os.PathLike[str]":
    """Where assembled models, dequantised weights and adapters live (SAFEDRIFT_CACHE overrides)."""
    from pathlib import Path

    root = os.environ.get("SAFEDRIFT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "safedrift")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
