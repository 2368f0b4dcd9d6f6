"""Safety benchmarks as lists of items with stable ids and categories."""

from safedrift.benchmarks.registry import BENCHMARKS, Item, load_benchmark

__all__ = ["BENCHMARKS", "Item", "load_benchmark"]
