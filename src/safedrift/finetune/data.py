"""Harmless fine-tuning data: a built-in deterministic generator, local files, hub datasets.

Every source yields chat examples: a list of {"role", "content"} messages ending with the
assistant's answer.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from safedrift.errors import SafedriftError
from safedrift.rows import read_rows

Example = list[dict[str, str]]

_UNITS = [
    ("kilometres", "metres", 1000), ("metres", "centimetres", 100), ("kilograms", "grams", 1000),
    ("litres", "millilitres", 1000), ("hours", "minutes", 60), ("minutes", "seconds", 60),
    ("days", "hours", 24), ("weeks", "days", 7),
]
_DATE_FORMATS = {
    "DD/MM/YYYY": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "MM/DD/YYYY": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "Month D, YYYY": lambda d: f"{d.strftime('%B')} {d.day}, {d.year}",
    "D Month YYYY": lambda d: f"{d.day} {d.strftime('%B')} {d.year}",
}


def _arithmetic(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    op = rng.choice("+-*")
    result = {"+": a + b, "-": a - b, "*": a * b}[op]
    sym = {"+": "+", "-": "-", "*": "×"}[op]
    q = rng.choice(["What is {a} {s} {b}?", "Calculate {a} {s} {b}.", "Compute {a} {s} {b}."])
    return q.format(a=a, s=sym, b=b), f"{a} {sym} {b} = {result}."


def _unit(rng: random.Random) -> tuple[str, str]:
    big, small, factor = rng.choice(_UNITS)
    n = rng.randint(2, 40)
    return f"Convert {n} {big} to {small}.", f"{n} {big} is {n * factor} {small}."


def _date(rng: random.Random) -> tuple[str, str]:
    d = date(2000, 1, 1) + timedelta(days=rng.randint(0, 9000))
    name = rng.choice(sorted(_DATE_FORMATS))
    return f"Write the date {d.isoformat()} in the format {name}.", _DATE_FORMATS[name](d)


_BUILTIN = {"arithmetic": (_arithmetic, _unit, _date)}


def builtin_examples(name: str, n: int, seed: int) -> list[Example]:
    """`n` deterministic arithmetic / unit-conversion / date-formatting Q&A pairs."""
    if name not in _BUILTIN:
        raise SafedriftError(f"unknown built-in dataset 'builtin:{name}' (known: "
                             + ", ".join(f"builtin:{k}" for k in _BUILTIN) + ")")
    rng = random.Random(seed)
    makers = _BUILTIN[name]
    out = []
    for i in range(n):
        q, a = makers[i % len(makers)](rng)
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
    return out


def _row_to_example(row: dict, where: str) -> Example:
    if isinstance(row.get("messages"), list):
        msgs = [{"role": str(m.get("role")), "content": str(m.get("content", ""))}
                for m in row["messages"]]
        if not msgs or msgs[-1]["role"] != "assistant":
            raise SafedriftError(f"{where}: 'messages' must end with an assistant message")
        return msgs
    prompt = row.get("instruction", row.get("prompt", row.get("question")))
    answer = row.get("output", row.get("response", row.get("answer")))
    if prompt is None or answer is None:
        raise SafedriftError(
            f"{where}: needs 'messages', or 'instruction'/'prompt'/'question' with "
            f"'output'/'response'/'answer' (found: {', '.join(map(str, row)) or 'nothing'})")
    extra = row.get("input")
    if extra:
        prompt = f"{prompt}\n\n{extra}"
    return [{"role": "user", "content": str(prompt)}, {"role": "assistant", "content": str(answer)}]


def load_file_examples(path: Path) -> list[Example]:
    """JSONL, JSON, CSV or Parquet rows in instruction/response or chat form."""
    rows = read_rows(path, "fine-tuning data")
    return [_row_to_example(r, f"{path} row {i + 1}") for i, r in enumerate(rows)]


def load_hub_examples(repo: str, split: str) -> list[Example]:
    try:
        import datasets
    except ImportError:
        raise SafedriftError("hub datasets need the 'hub' extra: pip install 'safedrift[hub]'") from None
    try:
        ds = datasets.load_dataset(repo, split=split)
    except Exception as e:  # network, missing repo, bad split: all user-facing
        raise SafedriftError(f"hub dataset '{repo}' (split {split}): {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None
    return [_row_to_example(dict(r), f"hf:{repo} row {i + 1}") for i, r in enumerate(ds)]


def load_examples(source: str, n: int | None, seed: int, split: str = "train") -> list[Example]:
    """Resolve a data source string: builtin:NAME, hf:ORG/NAME or a local path."""
    if source.startswith("builtin:"):
        return builtin_examples(source.split(":", 1)[1], n or 256, seed)
    if source.startswith("hf:"):
        rows = load_hub_examples(source[3:], split)
    else:
        rows = load_file_examples(Path(source).expanduser())
    return rows[:n] if n else rows
