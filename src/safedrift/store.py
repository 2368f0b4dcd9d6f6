"""The results store: one embedded DuckDB file per output folder.

Tables
  runs         one row per experiment config (run_id = config hash)
  adapters     one row per fine-tuned adapter, with its seeds and file hashes
  train_log    training loss per step per adapter
  generations  one row per (model variant, benchmark item, format, sample): the response
  gen_cells    finished generation cells; a cell's generations and its row here are written in
               one transaction, so a crash leaves no partial cell behind
  results      one row per judged response (generation × judge), with full provenance
  judge_validation  each refusal judge's accuracy against human-labelled files, per run
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from safedrift.errors import SafedriftError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id VARCHAR PRIMARY KEY, config_hash VARCHAR, config_json VARCHAR,
  package_versions VARCHAR, model_sha256 VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS adapters (
  adapter_key VARCHAR PRIMARY KEY, base_sha256 VARCHAR, seed_init INTEGER,
  seed_data_order INTEGER, seed_dropout INTEGER, adapter_sha256 VARCHAR, gguf_sha256 VARCHAR,
  n_examples INTEGER, train_seconds DOUBLE, threads INTEGER, settings_json VARCHAR);
CREATE TABLE IF NOT EXISTS train_log (
  adapter_key VARCHAR, step INTEGER, loss DOUBLE, learning_rate DOUBLE,
  PRIMARY KEY (adapter_key, step));
CREATE TABLE IF NOT EXISTS gen_cells (
  gen_key VARCHAR PRIMARY KEY, model_id VARCHAR, benchmark VARCHAR, format VARCHAR,
  backend VARCHAR, n_rows INTEGER, seconds DOUBLE, n_tokens BIGINT, finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS generations (
  gen_key VARCHAR, model_id VARCHAR, model_ref VARCHAR, base_sha256 VARCHAR,
  adapter_key VARCHAR, adapter_sha256 VARCHAR, seed_init INTEGER, seed_data_order INTEGER,
  seed_dropout INTEGER, benchmark VARCHAR, item_id VARCHAR, category VARCHAR, harmful BOOLEAN,
  prompt VARCHAR, format VARCHAR, sample_index INTEGER, sampling_seed BIGINT,
  temperature DOUBLE, top_p DOUBLE, max_tokens INTEGER, backend VARCHAR, response VARCHAR,
  n_tokens INTEGER, finish_reason VARCHAR,
  PRIMARY KEY (gen_key, item_id, sample_index));
CREATE TABLE IF NOT EXISTS judge_validation (
  run_id VARCHAR, judge VARCHAR, judge_version VARCHAR, source VARCHAR, source_sha256 VARCHAR,
  n INTEGER, accuracy_3class DOUBLE, accuracy_binary DOUBLE, auroc DOUBLE,
  measured_at TIMESTAMP, PRIMARY KEY (run_id, judge, source_sha256));
CREATE TABLE IF NOT EXISTS results (
  run_id VARCHAR, config_hash VARCHAR, gen_key VARCHAR, model_id VARCHAR, model_ref VARCHAR,
  base_sha256 VARCHAR, adapter_key VARCHAR, adapter_sha256 VARCHAR, seed_init INTEGER,
  seed_data_order INTEGER, seed_dropout INTEGER, benchmark VARCHAR, item_id VARCHAR,
  category VARCHAR, harmful BOOLEAN, prompt VARCHAR, format VARCHAR, sample_index INTEGER,
  sampling_seed BIGINT, temperature DOUBLE, top_p DOUBLE, max_tokens INTEGER, backend VARCHAR,
  response VARCHAR, n_tokens INTEGER, finish_reason VARCHAR, judge VARCHAR,
  judge_version VARCHAR, label VARCHAR, refused BOOLEAN, score DOUBLE, reason VARCHAR,
  package_versions VARCHAR, created_at TIMESTAMP,
  PRIMARY KEY (run_id, gen_key, item_id, sample_index, judge));
"""
# Columns added after the first release, added on open to new databases and to those written
# before them alike (one list, so the two cannot drift apart).
ADDED_COLUMNS = {"generations": {"task": "VARCHAR", "reference": "VARCHAR",
                                 "stopped_early": "BOOLEAN", "device": "VARCHAR"},
                 "results": {"task": "VARCHAR", "reference": "VARCHAR",
                             "stopped_early": "BOOLEAN", "judge_raw": "VARCHAR",
                             "judge_kind": "VARCHAR", "device": "VARCHAR"},
                 # an LLM judge's judge_error verdicts, left out of the figures; how often the
                 # file's two annotators agreed, where it keeps both (XSTest's)
                 "judge_validation": {"n_errors": "INTEGER", "annotators_binary": "DOUBLE",
                                      "annotators_3class": "DOUBLE"}}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ResultsStore:
    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise SafedriftError(f"results database '{self.path}': no such file")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as e:
            raise SafedriftError(f"results database '{self.path}': {e}") from None
        if not read_only:
            self.con.execute(SCHEMA)
            for table, cols in ADDED_COLUMNS.items():
                for col, kind in cols.items():
                    self.con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col} {kind}")

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, run_id: str, config: dict, versions: dict, model_sha256: str):
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (run_id) DO NOTHING",
            [run_id, run_id, json.dumps(config, sort_keys=True), json.dumps(versions),
             model_sha256, _now()])

    def finish_run(self, run_id: str):
        self.con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [_now(), run_id])

    # -- adapters --------------------------------------------------------------------------
    def record_adapter(self, row: dict, losses: list[float], lrs: list[float]):
        self.con.execute("BEGIN")
        try:
            self.con.execute("DELETE FROM adapters WHERE adapter_key = ?", [row["adapter_key"]])
            self.con.execute("DELETE FROM train_log WHERE adapter_key = ?", [row["adapter_key"]])
            self.con.execute(f"INSERT INTO adapters VALUES ({', '.join('?' * 11)})", [
                row["adapter_key"], row["base_sha256"], row["seed_init"], row["seed_data_order"],
                row["seed_dropout"], row["adapter_sha256"], row["gguf_sha256"],
                row["n_examples"], row["train_seconds"], row["threads"], row["settings_json"]])
            self.con.executemany("INSERT INTO train_log VALUES (?, ?, ?, ?)",
                                 [[row["adapter_key"], i, loss, lr]
                                  for i, (loss, lr) in enumerate(zip(losses, lrs))])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    # -- generations -----------------------------------------------------------------------
    def has_gen_cell(self, gen_key: str) -> bool:
        return self.con.execute("SELECT 1 FROM gen_cells WHERE gen_key = ?",
                                [gen_key]).fetchone() is not None

    def write_gen_cell(self, gen_key: str, rows: pd.DataFrame, meta: dict):
        """All generations of a cell and its completion mark, atomically."""
        self.con.execute("BEGIN")
        try:
            self.con.execute("DELETE FROM generations WHERE gen_key = ?", [gen_key])
            self.con.register("_gen_rows", rows)
            self.con.execute("INSERT INTO generations BY NAME SELECT * FROM _gen_rows")
            self.con.unregister("_gen_rows")
            self.con.execute("INSERT INTO gen_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                gen_key, meta["model_id"], meta["benchmark"], meta["format"], meta["backend"],
                len(rows), meta["seconds"], int(rows["n_tokens"].sum()), _now()])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def generations(self, gen_key: str) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM generations WHERE gen_key = ? "
                                "ORDER BY item_id, sample_index", [gen_key]).df()

    # -- results ---------------------------------------------------------------------------
    def has_results(self, run_id: str, gen_key: str, judge: str, judge_version: str) -> bool:
        return self.con.execute(
            "SELECT 1 FROM results WHERE run_id = ? AND gen_key = ? AND judge = ? "
            "AND judge_version = ? LIMIT 1", [run_id, gen_key, judge, judge_version]
        ).fetchone() is not None

    def judge_errors(self, run_id: str, gen_key: str, judge: str,
                     judge_version: str) -> pd.DataFrame:
        """(item_id, sample_index) of the answers in a cell whose verdict was a judge error:
        a re-run judges them again (the endpoint may be back)."""
        return self.con.execute(
            "SELECT item_id, sample_index FROM results WHERE run_id = ? AND gen_key = ? AND "
            "judge = ? AND judge_version = ? AND label = 'judge_error'",
            [run_id, gen_key, judge, judge_version]).df()

    def drop_stale_results(self, run_id: str, gen_keys: list[str]) -> int:
        """Delete this run's verdicts on cells outside `gen_keys` (the run's grid now); how many."""
        return self.con.execute("DELETE FROM results WHERE run_id = ? AND NOT list_contains(?, "
                                "gen_key)", [run_id, list(gen_keys)]).fetchall()[0][0]

    def write_results(self, rows: pd.DataFrame):
        self.con.execute("BEGIN")
        try:
            self.con.register("_res_rows", rows)
            self.con.execute("INSERT OR REPLACE INTO results BY NAME SELECT * FROM _res_rows")
            self.con.unregister("_res_rows")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def record_validation(self, run_id: str, row: dict):
        self.con.execute(
            "INSERT OR REPLACE INTO judge_validation (run_id, judge, judge_version, source, "
            "source_sha256, n, accuracy_3class, accuracy_binary, auroc, measured_at, n_errors, "
            "annotators_binary, annotators_3class) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, row["judge"], row["judge_version"], row["source"], row["source_sha256"],
             row["n"], row["accuracy_3class"], row["accuracy_binary"], row["auroc"], _now(),
             row.get("n_errors", 0), row.get("annotators_binary"), row.get("annotators_3class")])

    def validations(self, run_id: str) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM judge_validation WHERE run_id = ? "
                                "ORDER BY judge, source", [run_id]).df()

    def results(self, run_id: str | None = None, judge: str | None = None) -> pd.DataFrame:
        where, args = [], []
        if run_id:
            where.append("run_id = ?")
            args.append(run_id)
        if judge:
            where.append("judge = ?")
            args.append(judge)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "")
        return self.con.execute(sql + " ORDER BY model_id, benchmark, item_id, sample_index",
                                args).df()

    def train_log(self) -> pd.DataFrame:
        return self.con.execute("SELECT a.seed_init, a.seed_data_order, a.seed_dropout, t.* "
                                "FROM train_log t JOIN adapters a USING (adapter_key) "
                                "ORDER BY adapter_key, step").df()

    def latest_run_id(self) -> str:
        row = self.con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        if row is None:
            raise SafedriftError(f"results database '{self.path}': holds no run")
        return row[0]

    def export_parquet(self, path: str | Path, run_id: str | None = None) -> Path:
        path = Path(path)
        where = f"WHERE run_id = '{run_id}'" if run_id and run_id.isalnum() else ""
        target = str(path).replace("'", "''")
        self.con.execute(f"COPY (SELECT * FROM results {where} ORDER BY model_id, benchmark, "
                         f"item_id, sample_index, judge) TO '{target}' (FORMAT PARQUET)")
        return path
