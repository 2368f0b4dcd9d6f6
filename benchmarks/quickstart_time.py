"""Wall time of the quickstart by stage, from the run's timings.json.

    python benchmarks/quickstart_time.py [--output DIR] [--fresh]

--fresh removes the output folder first (training reuses cached adapters unless the cache is
also cleared: set SAFEDRIFT_CACHE to an empty folder for a cold run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="runs/bench-quickstart")
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    out = Path(args.output)
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "safedrift.cli", "quickstart", "--output", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    t = json.loads((out / "timings.json").read_text())
    print(f"{'stage':<20}{'seconds':>10}")
    for stage in ("prepare", "finetune", "generate+judge", "report", "total"):
        print(f"{stage:<20}{t.get(stage, 0):>10.1f}")
    print(f"{'process wall':<20}{wall:>10.1f}")
    if t.get("generation_seconds"):
        print(f"generation: {t['generation_tokens']} tokens in {t['generation_seconds']:.1f} s = "
              f"{t['generation_tokens'] / t['generation_seconds']:.1f} tokens/s; "
              f"adapters trained {t['trained']}, cells generated {t['generated_cells']}, "
              f"reused {t['reused_cells']}")


if __name__ == "__main__":
    main()
