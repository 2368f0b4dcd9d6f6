"""The experiment file, validated by pydantic. Every field has a default, so an empty file is
the quickstart; `examples/quickstart.yaml` documents each field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_serializer, model_validator)

from safedrift.errors import SafedriftError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Strict):
    ref: str = "embedded:qwen2.5-coder-0.5b-instruct"
    trust_remote_code: bool = False


class DataSection(_Strict):
    source: str = "builtin:arithmetic"
    n_examples: int | None = Field(256, ge=1)
    split: str = "train"
    seed: int = 0  # content seed of the built-in generator


class LoraSection(_Strict):
    r: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class TrainSection(_Strict):
    steps: int = Field(30, ge=1)
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    max_length: int = Field(128, ge=8)
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    # "all": loss on every token, as a plain causal-LM fine-tune (labels = input_ids) does;
    # "answer": loss on the assistant's tokens only.
    loss_on: Literal["all", "answer"] = "all"


class SeedTriple(_Strict):
    init: int
    data_order: int
    dropout: int


def _as_triple(s: int | SeedTriple) -> SeedTriple:
    return s if isinstance(s, SeedTriple) else SeedTriple(init=s, data_order=s, dropout=s)


class FormatSection(_Strict):
    """A custom prompt format; built-in ones are named by a string (see `safedrift formats`)."""

    name: str
    system: str | None = None  # chat formats: None keeps the template's default
    kind: Literal["chat", "alpaca", "raw"] = "chat"
    thinking: bool | None = None  # reasoning models' enable_thinking; None: the template's default

    @model_serializer(mode="wrap")
    def _leave_out_unset_thinking(self, handler):
        """`thinking` is part of the config's identity only when set: configs written before
        it existed keep their run ids."""
        out = handler(self)
        if self.thinking is None:
            out.pop("thinking", None)
        return out


class FinetuneSection(_Strict):
    data: DataSection = DataSection()
    lora: LoraSection = LoraSection()
    train: TrainSection = TrainSection()
    # an int s means init = data_order = dropout = s; a mapping sets each axis
    seeds: list[int | SeedTriple] = Field(default_factory=lambda: [0, 1, 2], min_length=0)
    format: str | FormatSection = "chat"  # the fine-tuning template (an axis of its own)
    # auto: CUDA in bfloat16 where a GPU is present, else CPU in float32
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"

    def resolved_device(self) -> tuple[str, str]:
        """(device, dtype) this machine will train with."""
        import torch

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            from safedrift.errors import SafedriftError

            raise SafedriftError("finetune.device: cuda requested but no GPU is available")
        dtype = self.dtype if self.dtype != "auto" else (
            "bfloat16" if device == "cuda" else "float32")
        return device, dtype

    @field_validator("format")
    @classmethod
    def _known_format(cls, v):
        from safedrift.formats import BUILTIN_FORMATS

        if isinstance(v, str) and v not in BUILTIN_FORMATS:
            raise ValueError(f"unknown prompt format '{v}' (known: {', '.join(BUILTIN_FORMATS)})")
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list) -> list:
        # the same seeds train the same adapter: a second copy would be counted as another seed
        triples = [_as_triple(s) for s in v]
        for i, t in enumerate(triples):
            if t in triples[:i]:
                raise ValueError(f"seed entry {i} (init={t.init}, data_order={t.data_order}, "
                                 f"dropout={t.dropout}) repeats an earlier one; each entry must "
                                 "train a different adapter")
        return v

    def seed_triples(self) -> list[SeedTriple]:
        return [_as_triple(s) for s in self.seeds]


class BenchmarkSection(_Strict):
    name: str
    path: str | None = None  # a local file in the upstream format
    hub_id: str | None = None  # overrides the benchmark's default hub dataset
    split: str | None = None
    limit: int | None = Field(None, ge=1)
    per_category: int | None = Field(None, ge=1)  # first N items of each category (and kind)
    max_tokens: int | None = Field(None, ge=1)  # overrides sampling.max_tokens (GSM8K needs ~256)


class SamplingSection(_Strict):
    temperature: float = Field(0.0, ge=0)  # 0: greedy
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(32, ge=1)
    n_samples: int = Field(1, ge=1)
    seed: int = 0  # sample j of every item uses seed + j


class EndpointSection(_Strict):
    """An OpenAI-compatible server. The API key is read from the environment variable named
    here, when requests are sent; it is never part of the config."""

    base_url: str  # up to and including /v1
    model: str
    api: Literal["chat", "completions"] = "chat"
    api_key_env: str | None = "OPENAI_API_KEY"
    concurrency: int = Field(4, ge=1, le=256)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0, le=20)
    backoff_s: float = Field(1.0, ge=0)
    # sent with every request, e.g. {repeat_penalty: 1.0, top_k: 0, min_p: 0.0} for llama.cpp
    # servers, whose defaults (1.1, 40, 0.05) otherwise change greedy answers
    extra_body: dict[str, float | int | str | bool] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"base_url '{v}' must start with http:// or https://")
        return v

    def settings(self):
        from safedrift.models.openai_compat import EndpointSettings

        return EndpointSettings(**{**self.model_dump(),
                                   "extra_body": tuple(sorted(self.extra_body.items()))})


class LLMJudgeSection(_Strict):
    """An LLM judge with a published rubric (judges/llm.py), run through an OpenAI-compatible
    endpoint or from a local GGUF model in this process."""

    rubric: Literal["harm-qi", "strongreject", "llama-guard", "harmbench-cls", "xstest"]
    endpoint: EndpointSection | None = None
    model: str | None = None  # a local GGUF: a path or embedded:NAME (instead of an endpoint)
    n_ctx: int = Field(4096, ge=256)  # the local model's context window
    name: str | None = None  # how its verdicts are named; default: the rubric
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    max_tokens: int = Field(512, ge=1)
    prompt_file: str | None = None  # your copy of the upstream prompt ({prompt}, {response})

    @model_validator(mode="after")
    def _one_place_to_run(self):
        if (self.endpoint is None) == (self.model is None):
            raise ValueError(f"LLM judge '{self.judge_name}' needs either 'endpoint' (a "
                             "server) or 'model' (a local GGUF), not both or neither")
        return self

    @property
    def judge_name(self) -> str:
        return self.name or self.rubric

    @property
    def kind(self) -> str:
        from safedrift.judges.llm import RUBRIC_KIND

        return RUBRIC_KIND[self.rubric]


def judge_name(entry: str | LLMJudgeSection) -> str:
    return entry if isinstance(entry, str) else entry.judge_name


class GenerationSection(_Strict):
    backend: Literal["llamacpp", "transformers", "openai"] = "llamacpp"
    n_ctx: int = Field(1024, ge=64)  # tokens per sequence: prompt + answer
    # sequences decoded together (1: one prompt at a time, as a bare loop does); llama.cpp
    # always, transformers for greedy decoding (sampled answers go one at a time, own seed)
    batch_size: int = Field(8, ge=1, le=64)
    # stop an answer once its opening is a clear refusal (judges/early_stop.py); measured on
    # 368 real answers: no verdict of any judge changed (benchmarks/early_stop.py)
    early_stop: bool = True
    # backend "openai": the server; `variant_models` names the served model of each tuned
    # variant (e.g. vLLM --lora-modules names); without it only the base model is evaluated
    endpoint: EndpointSection | None = None
    variant_models: dict[str, str] = Field(default_factory=dict)
    # evaluation prompt formats, each an axis level: built-in names or {name, system, kind}
    formats: list[str | FormatSection] = Field(default_factory=lambda: ["chat"], min_length=1)

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, v):
        from safedrift.formats import BUILTIN_FORMATS

        names = []
        for f in v:
            if isinstance(f, str) and f not in BUILTIN_FORMATS:
                raise ValueError(f"unknown prompt format '{f}' (known: "
                                 f"{', '.join(BUILTIN_FORMATS)}; or give name/system/kind)")
            names.append(f if isinstance(f, str) else f.name)
        if len(set(names)) != len(names):
            raise ValueError("prompt format names must be unique")
        return v


class ExperimentConfig(_Strict):
    model: ModelSection = ModelSection()
    finetune: FinetuneSection = FinetuneSection()
    benchmarks: list[BenchmarkSection] = Field(
        default_factory=lambda: [BenchmarkSection(name="smoke-harmful"),
                                 BenchmarkSection(name="smoke-harmless")], min_length=1)
    sampling: SamplingSection = SamplingSection()
    generation: GenerationSection = GenerationSection()
    # the first judge drives the summary and must judge refusal; every judge is stored
    judges: list[str | LLMJudgeSection] = Field(
        default_factory=lambda: ["refusal", "keyword", "coherence"], min_length=1)
    # human-labelled files (XSTest completions, or text,label CSVs) that the judges of their
    # label kind (refusal, toxicity, harm, coherence) are measured against at the start of a
    # run; the figures go into the database and the report
    judge_validation: list[str] = Field(default_factory=list)
    confidence: float = Field(0.95, gt=0, lt=1)
    output: str = "runs/quickstart"

    @field_validator("judges")
    @classmethod
    def _known_judges(cls, v: list) -> list:
        from safedrift.judges import JUDGES

        for entry in v:
            if isinstance(entry, str) and entry not in JUDGES:
                raise ValueError(f"unknown judge '{entry}' (known: {', '.join(JUDGES)}; or an "
                                 "LLM judge: {rubric, endpoint or model})")
        first_kind = JUDGES[v[0]].kind if isinstance(v[0], str) else v[0].kind
        if first_kind != "refusal":
            raise ValueError(f"the first judge drives the summary and must judge refusal, "
                             f"not '{judge_name(v[0])}'")
        names = [judge_name(e) for e in v]
        if len(set(names)) != len(names):
            raise ValueError("judge names must be unique (give LLM judges a 'name')")
        return v

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, v: list[BenchmarkSection]) -> list[BenchmarkSection]:
        from safedrift.benchmarks import BENCHMARKS

        for b in v:
            if b.name not in BENCHMARKS:
                raise ValueError(f"unknown benchmark '{b.name}' (known: {', '.join(BENCHMARKS)})")
        names = [b.name for b in v]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            # two entries would store the same item ids under one name: counted twice
            raise ValueError(f"benchmark '{twice[0]}' is listed twice; give each benchmark once "
                             "(limit / per_category choose its items)")
        return v

    @model_validator(mode="after")
    def _cross_field_checks(self):
        if self.generation.backend == "openai" and self.generation.endpoint is None:
            raise ValueError("generation.endpoint is required with backend 'openai'")
        from safedrift.judges import JUDGES

        kinds = {JUDGES[j].kind if isinstance(j, str) else j.kind for j in self.judges}
        for b in self.benchmarks:
            if b.name == "toxigen" and "toxicity" not in kinds:
                raise ValueError("benchmark 'toxigen' is measured by a toxicity judge; add "
                                 "'toxicity' (offline) or 'toxigen-roberta' to judges")
        return self

    def identity(self) -> dict:
        """What determines the results: everything but where they are written."""
        return self.model_dump(mode="json", exclude={"output"})


def _format_error(path: str, err: ValidationError) -> str:
    errors = err.errors()
    # A union field (seeds: int | mapping) reports one error per branch; the deepest is the
    # one that says what is missing, and of equally deep ones, not "should be a string".
    prefix = errors[0]["loc"][:-1]
    e = max((x for x in errors if x["loc"][:len(prefix)] == prefix),
            key=lambda x: (len(x["loc"]), not x["type"].endswith("_type")))
    where = ".".join(str(p) for p in e["loc"]  # drop the names of union branches
                     if not (str(p).startswith(("int", "SeedTriple", "str", "function-"))
                             or str(p).endswith("Section")))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {where or 'top level'}: {msg}{more}"


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    if not path.is_file():
        raise SafedriftError(f"config '{path}': no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise SafedriftError(f"{path}: not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise SafedriftError(f"{path}: the top level must be a mapping of fields")
    return parse_config(data, str(path))


def parse_config(data: dict, where: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise SafedriftError(_format_error(where, e)) from None
