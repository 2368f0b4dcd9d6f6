"""`safedrift plan`: the grid, cached cells after a run, and a calibrated time estimate, on the
real SmolLM2 model."""

from io import StringIO

from rich.console import Console

from safedrift.cli import main
from safedrift.config import parse_config
from safedrift.pipeline import run_experiment
from safedrift.plan import calibrate, make_plan

TINY = {
    "model": {"ref": "embedded:smollm2-135m-instruct"},
    "finetune": {"data": {"n_examples": 8}, "train": {"steps": 2, "batch_size": 2},
                 "seeds": [3]},
    "benchmarks": [{"name": "smoke-harmful", "limit": 3},
                   {"name": "smoke-harmless", "limit": 2, "max_tokens": 6}],
    "sampling": {"max_tokens": 10, "n_samples": 2, "temperature": 0.7},
    "generation": {"formats": ["chat", "raw"]},
}


def test_plan_counts_the_grid_and_sees_finished_cells(tmp_path):
    cfg = parse_config({**TINY, "output": str(tmp_path / "run")})
    plan, prepared = make_plan(cfg)
    assert [(r.benchmark, r.format) for r in plan.rows] == [
        ("smoke-harmful", "chat"), ("smoke-harmful", "raw"),
        ("smoke-harmless", "chat"), ("smoke-harmless", "raw")]
    assert plan.cells == 8 and plan.cells_to_run == 8
    assert plan.generations == 2 * (3 + 2) * 2 * 2  # variants × items × samples × formats
    assert plan.max_tokens == 2 * 2 * 2 * (3 * 10 + 2 * 6)
    assert (plan.adapters_total, plan.adapters_to_train) == (1, 1)

    calibrate(plan, cfg, prepared, n_items=3, max_tokens=8)
    assert plan.seconds_per_token > 0 and 0 < plan.mean_answer_fraction <= 1
    assert plan.seconds_per_train_step > 0 and plan.training_seconds > 0
    assert 0 < plan.expected_tokens <= plan.max_tokens
    assert plan.judge_seconds == {} and plan.judging_seconds == 0  # text judges only

    run_experiment(cfg, Console(file=StringIO()))
    after, _ = make_plan(cfg)
    assert after.cells_to_run == 0 and after.generations == 0
    assert after.adapters_to_train == 0 and after.training_seconds == 0


def test_plan_times_judges_that_run_a_model(tmp_path):
    cfg = parse_config({**TINY, "judges": ["refusal", "coherence-ppl"],
                        "output": str(tmp_path / "run")})
    plan, prepared = make_plan(cfg)
    # the run samples (temperature 0.7): its coherence-ppl judges with the sampled threshold
    (ppl,) = [j for j in prepared[2] if j.name == "coherence-ppl"]
    assert ppl.max_nll == 3.0 and ppl.version.endswith(":3:8")
    calibrate(plan, cfg, prepared, n_items=3, max_tokens=8)
    assert set(plan.judge_seconds) == {"coherence-ppl"}
    # both benchmarks are refusal tasks, so every answer is judged
    assert plan.judging_seconds == plan.judge_seconds["coherence-ppl"] * plan.generations


def test_plan_command_prints_the_grid(tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.setenv("COLUMNS", "160")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "run")}))
    assert main(["plan", str(path), "--no-calibrate"]) == 0
    out = capsys.readouterr().out
    assert "smoke-harmless" in out and "cells: 8 (8 to run)" in out
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_plan_rejects_bad_config_in_one_line(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text("benchmarks: [{name: nope}]\n")
    assert main(["plan", str(path)]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
