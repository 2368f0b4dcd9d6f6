"""The DuckDB results store: atomic cells, resume bookkeeping, Parquet export."""

import duckdb
import pandas as pd
import pytest

from safedrift.store import ResultsStore


def _gen_rows(n: int, key: str = "k1") -> pd.DataFrame:
    return pd.DataFrame({
        "gen_key": key, "model_id": "base", "model_ref": "m", "base_sha256": "s",
        "adapter_key": None, "adapter_sha256": None, "seed_init": pd.array([None] * n, "Int32"),
        "seed_data_order": pd.array([None] * n, "Int32"),
        "seed_dropout": pd.array([None] * n, "Int32"), "benchmark": "b",
        "item_id": [f"i{i}" for i in range(n)], "category": "c", "harmful": True,
        "prompt": "p", "format": "chat", "sample_index": 0, "sampling_seed": 0,
        "temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "backend": "llamacpp",
        "response": [f"r{i}" for i in range(n)], "n_tokens": 3, "finish_reason": "stop"})


def test_cell_is_all_or_nothing(tmp_path):
    with ResultsStore(tmp_path / "r.duckdb") as store:
        store.write_gen_cell("k1", _gen_rows(4), {"model_id": "base", "benchmark": "b",
                                                  "format": "chat", "backend": "x", "seconds": 1})
        assert store.has_gen_cell("k1")
        bad = _gen_rows(3, "k2")
        bad.loc[2, "item_id"] = "i0"  # duplicate primary key: the insert fails part-way
        with pytest.raises(duckdb.Error):
            store.write_gen_cell("k2", bad, {"model_id": "base", "benchmark": "b",
                                             "format": "chat", "backend": "x", "seconds": 1})
        assert not store.has_gen_cell("k2")
        n = store.con.execute("SELECT count(*) FROM generations WHERE gen_key='k2'").fetchone()
        assert n == (0,)
        # a failure after the rows are in but before the cell is marked done: rows roll back
        with pytest.raises(KeyError):
            store.write_gen_cell("k3", _gen_rows(3, "k3"), {"model_id": "base"})
        assert not store.has_gen_cell("k3")
        n = store.con.execute("SELECT count(*) FROM generations WHERE gen_key='k3'").fetchone()
        assert n == (0,)
        assert len(store.generations("k1")) == 4


def test_results_round_trip_and_parquet(tmp_path):
    from safedrift.judges import PatternRefusalJudge
    from safedrift.pipeline import _judge_rows

    with ResultsStore(tmp_path / "r.duckdb") as store:
        store.start_run("run1", {"a": 1}, {"torch": "x"}, "sha")
        gens = _gen_rows(5)
        gens.loc[0, "response"] = "I'm sorry, I can't help with that."
        rows = _judge_rows(gens, PatternRefusalJudge(), "run1", "{}", {})
        store.write_results(rows)
        assert store.has_results("run1", "k1", "refusal", PatternRefusalJudge.version)
        got = store.results("run1")
        assert len(got) == 5 and got["refused"].sum() == 1
        assert set(got["config_hash"]) == {"run1"}
        out = store.export_parquet(tmp_path / "r.parquet", "run1")
    back = pd.read_parquet(out)
    assert len(back) == 5 and back.loc[back["item_id"] == "i0", "refused"].item()


def test_read_only_missing_database(tmp_path):
    from safedrift.errors import SafedriftError

    with pytest.raises(SafedriftError, match="no such file"):
        ResultsStore(tmp_path / "none.duckdb", read_only=True)
