"""Shared fixtures. Tests that need ../shared/data carry the `shared_data` marker and are
skipped unless SAFEDRIFT_SHARED_DATA points at it (.ci/run sets it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path | None:
    env = os.environ.get("SAFEDRIFT_SHARED_DATA")
    return Path(env) if env and Path(env).is_dir() else None


def pytest_collection_modifyitems(config, items):
    if shared_data_dir() is None:
        skip = pytest.mark.skip(reason="set SAFEDRIFT_SHARED_DATA to ../shared/data")
        for item in items:
            if "shared_data" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    assert path is not None
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests share one cache (adapters, dequantised weights) but never the user's."""
    if "SAFEDRIFT_CACHE" not in os.environ:
        os.environ["SAFEDRIFT_CACHE"] = str(tmp_path_factory.mktemp("safedrift-cache"))
    yield


@pytest.fixture
def benchmark_script(monkeypatch):
    """Load a script of benchmarks/ by name as a module, to test its helpers (scripts import
    their helper modules from beside them)."""
    import importlib.util

    def load(name: str):
        script = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
        monkeypatch.syspath_prepend(str(script.parent))
        spec = importlib.util.spec_from_file_location(name, script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
