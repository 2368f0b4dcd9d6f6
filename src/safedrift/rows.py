"""Read a table of rows from a local file (CSV, JSONL, JSON or Parquet) with errors that name
the file and, for JSONL, the line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from safedrift.errors import SafedriftError

SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")


def _columns_to_rows(columns: dict[str, list], path: Path) -> list[dict]:
    """Column-oriented JSON, as some upstream repos ship it: {"col": [..], ...}. An empty
    column is an unused field (Safety-Tuned LLaMAs' `"inputs": []`); the others must be the
    same length, or rows would be silently cut to the shortest."""
    used = {k: v for k, v in columns.items() if v}
    lengths = {k: len(v) for k, v in used.items()}
    if len(set(lengths.values())) > 1:
        raise SafedriftError(f"{path}: columns of different lengths "
                             f"({', '.join(f'{k}: {n}' for k, n in lengths.items())})")
    keys = list(used)
    return [dict(zip(keys, vals)) for vals in zip(*(used[k] for k in keys))]


def _grouped_records(groups: dict[str, list]) -> list[dict] | None:
    """Records grouped under a key, as HarmBench ships its classifier validation sets:
    {"behavior_id": [{...}, ...], ...}. Each record gets the key as `group` (its own fields
    win), so no record loses which group it came from. None when the lists are not of records
    (column-oriented JSON)."""
    records = [r for v in groups.values() for r in v]
    if not records or not all(isinstance(r, dict) for r in records):
        return None
    return [{"group": key, **r} for key, v in groups.items() for r in v]


def read_rows(path: Path, what: str) -> list[dict]:
    """Rows of `path` as dicts. `what` names the file's role in messages ("benchmark file")."""
    if not path.is_file():
        raise SafedriftError(f"{what} '{path}': no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SafedriftError(f"{what} '{path}': use {', '.join(SUFFIXES)}")
    try:
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
        elif suffix == ".jsonl":
            rows = []
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise SafedriftError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        elif suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(rows, dict) and all(isinstance(v, list) for v in rows.values()):
                rows = _grouped_records(rows) or _columns_to_rows(rows, path)
            if not isinstance(rows, list):
                raise SafedriftError(f"{path}: a .json file must hold a list of rows")
        else:
            import pandas as pd

            rows = pd.read_parquet(path).to_dict("records")
    except json.JSONDecodeError as e:
        raise SafedriftError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise SafedriftError(f"{path}: cannot parse ({type(e).__name__})") from None
    except (OSError, ValueError) as e:  # unreadable or corrupt Parquet
        raise SafedriftError(f"{path}: cannot read ({str(e).splitlines()[0]})") from None
    if not rows:
        raise SafedriftError(f"{what} '{path}': no rows")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise SafedriftError(f"{path}: row {bad + 1} is not an object with named fields")
    return rows
