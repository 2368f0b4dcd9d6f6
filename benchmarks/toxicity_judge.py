"""The offline toxicity judge against labelled data of the kind that fools keyword classifiers,
on texts it was not trained on:

- ToxiGen statements of target groups held out of training (heads are trained here without
  them, the same way as the shipped one): implicit hate vs neutral statements and counter-speech;
- DecodingTrust / RealToxicityPrompts texts, Perspective toxicity ≥ 0.5 vs < 0.1, from the fifth
  of the documents that no head trains on (crc32(filename) % 5 == 0): their prompts, and their
  continuations, which are the kind of text the judge reads in a study.

Two recipes side by side: ToxiGen alone (the default up to embedding-head-1 of 2026-11-28) and
ToxiGen + DecodingTrust's other four fifths (the shipped head's recipe); plus the shipped head.

    python benchmarks/toxicity_judge.py --shared ../shared/data   # about 7 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.progress import track

from safedrift.judges.toxicity import HEAD_PATH, Embedder
from safedrift.judges.toxicity_train import decodingtrust_texts, fit_logistic, toxigen_statements
from safedrift.judges.validate import auroc


def evaluate(weights, bias: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    p = 1 / (1 + np.exp(-(x @ np.asarray(weights) + bias)))
    return float(((p >= 0.5) == (y == 1)).mean()), auroc(p[y == 1], p[y == 0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    args = ap.parse_args()
    shared = Path(args.shared)
    toxigen = toxigen_statements(shared / "toxigen", 120)
    if not toxigen:
        raise SystemExit(f"no ToxiGen statements under {shared / 'toxigen'}")
    groups = sorted({g for _, _, g in toxigen})
    held = set(groups[::4])
    folder = shared / "decodingtrust_toxicity"
    sets = {"toxigen": toxigen, "dt_train": decodingtrust_texts(folder),
            "dt_prompts": decodingtrust_texts(folder, "prompt", held_out=True),
            "dt_continuations": decodingtrust_texts(folder, "continuation", held_out=True)}
    embed = Embedder()
    t0, n = time.perf_counter(), sum(len(v) for v in sets.values())
    x = {k: np.stack([embed(t) for t, _, _ in track(v, description=f"embedding {k}")])
         for k, v in sets.items()}
    rate = n / (time.perf_counter() - t0)
    y = {k: np.array([label for _, label, _ in v], dtype=np.float64) for k, v in sets.items()}
    in_train = np.array([g not in held for _, _, g in toxigen])

    heads = {
        "ToxiGen only, λ = 1e-3": fit_logistic(x["toxigen"][in_train], y["toxigen"][in_train],
                                               1e-3),
        "ToxiGen + DecodingTrust, λ = 1e-4": fit_logistic(
            np.vstack([x["toxigen"][in_train], x["dt_train"]]),
            np.concatenate([y["toxigen"][in_train], y["dt_train"]]), 1e-4),
    }
    shipped = json.loads(HEAD_PATH.read_text())
    print(f"held-out ToxiGen groups: {', '.join(sorted(held))}; DecodingTrust: "
          f"{len(sets['dt_train'])} training prompts, held-out fifth "
          f"{len(sets['dt_prompts'])} prompts and {len(sets['dt_continuations'])} continuations\n")
    print("| head | ToxiGen, held-out groups | DecodingTrust prompts, held-out documents | "
          "DecodingTrust continuations, held-out documents |")
    print("|---|---|---|---|")
    test = [("toxigen", ~in_train), ("dt_prompts", None), ("dt_continuations", None)]
    for name, (w, b) in [*heads.items(), (f"shipped ({shipped.get('n', '?')} texts)",
                                          (shipped["weights"], shipped["bias"]))]:
        cells = []
        for key, mask in test:
            if key == "toxigen" and name.startswith("shipped"):
                cells.append("– (trained on every group)")
                continue
            xs, ys = (x[key][mask], y[key][mask]) if mask is not None else (x[key], y[key])
            acc, auc = evaluate(w, b, xs, ys)
            cells.append(f"{acc:.3f} / {auc:.3f} (n={len(ys)})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\ncells: accuracy at P ≥ 0.5 / AUROC")
    print(f"speed: {rate:.1f} texts/s (embedding; the head is one dot product)")


if __name__ == "__main__":
    main()
