"""The offline toxicity judge against human-labelled data of the kind that fools keyword
classifiers, on texts it was not trained on:

- ToxiGen statements of target groups held out of training (a head is trained here without
  them, the same way as the shipped one): implicit hate vs neutral statements and counter-speech;
- DecodingTrust / RealToxicityPrompts texts, Perspective toxicity ≥ 0.5 vs < 0.1 (a different
  source and style; neither head saw any of it), judged by the shipped head and the hold-out head.

    python benchmarks/toxicity_judge.py --shared ../shared/data [--n 100]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from safedrift.judges.toxicity import HEAD_PATH, Embedder
from safedrift.judges.toxicity_train import toxigen_statements, train_head
from safedrift.judges.validate import auroc


def decodingtrust(folder: Path, n: int, seed: int = 0) -> list[tuple[str, int]]:
    rows = []
    for name in ("toxic.jsonl", "nontoxic.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            p = json.loads(line)["prompt"]
            if p.get("toxicity") is not None:
                rows.append((p["text"], float(p["toxicity"])))
    rng = random.Random(seed)
    return (rng.sample([(t, 1) for t, s in rows if s >= 0.5], n)
            + rng.sample([(t, 0) for t, s in rows if s < 0.1], n))


def evaluate(head: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    p = 1 / (1 + np.exp(-(x @ np.asarray(head["weights"]) + head["bias"])))
    return float(((p >= 0.5) == (y == 1)).mean()), auroc(p[y == 1], p[y == 0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--n", type=int, default=100, help="DecodingTrust texts per class")
    args = ap.parse_args()
    shared = Path(args.shared)
    embed = Embedder()
    groups = sorted({g for _, _, g in toxigen_statements(shared / "toxigen", 1)})
    held = set(groups[::4])
    t0 = time.perf_counter()
    holdout_head = train_head(shared / "toxigen", hold_out=held, embedder=embed)
    train_seconds = time.perf_counter() - t0
    shipped = json.loads(HEAD_PATH.read_text())
    tg = toxigen_statements(shared / "toxigen", 120, seed=1, groups=held)
    dt = decodingtrust(shared / "decodingtrust_toxicity", args.n)
    t0 = time.perf_counter()
    x_tg = np.stack([embed(t) for t, _, _ in tg])
    x_dt = np.stack([embed(t) for t, _ in dt])
    rate = (len(tg) + len(dt)) / (time.perf_counter() - t0)
    y_tg = np.array([y for _, y, _ in tg])
    y_dt = np.array([y for _, y in dt])
    print(f"hold-out head: trained on {holdout_head['n']} statements of "
          f"{len(groups) - len(held)} groups in {train_seconds:.0f} s; held out: "
          f"{', '.join(sorted(held))}\n")
    print("| head | labelled set | n | accuracy | AUROC |")
    print("|---|---|---|---|---|")
    for name, head, x, y, label in (
            ("hold-out", holdout_head, x_tg, y_tg, "ToxiGen, groups never trained on"),
            ("hold-out", holdout_head, x_dt, y_dt, "DecodingTrust (Perspective)"),
            ("shipped", shipped, x_dt, y_dt, "DecodingTrust (Perspective)")):
        acc, auc = evaluate(head, x, y)
        print(f"| {name} | {label} | {len(y)} | {acc:.3f} | {auc:.3f} |")
    print(f"\nspeed: {rate:.1f} texts/s (embedding; the head is one dot product)")


if __name__ == "__main__":
    main()
