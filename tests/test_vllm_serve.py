"""The vllm serve command for a run's adapters (vLLM itself needs a GPU; the command and the
config it pairs with are checked here)."""

import json

import pandas as pd
import pytest
import yaml

from safedrift.config import parse_config
from safedrift.errors import SafedriftError
from safedrift.models.vllm_serve import vllm_serve_plan


def _adapter(root, key, r=8, base=""):
    folder = root / key
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": r,
                                                            "base_model_name_or_path": base}))
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


def _rows(ref="embedded:qwen2.5-coder-0.5b-instruct"):
    return pd.DataFrame({"model_id": ["base", "tuned-s1-1-1", "tuned-s0-0-0", "tuned-s0-0-0"],
                         "adapter_key": [None, "k1", "k0", "k0"], "model_ref": [ref] * 4})


def test_serves_every_adapter_under_its_variant_name(tmp_path):
    a0, a1 = _adapter(tmp_path, "k0"), _adapter(tmp_path, "k1", r=12)
    plan = vllm_serve_plan(_rows(), tmp_path, port=8123)
    argv = plan.argv
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-Coder-0.5B-Instruct"]
    assert argv[argv.index("--max-lora-rank") + 1] == "16"  # r=12 rounds up to vLLM's 16
    assert argv[argv.index("--max-loras") + 1] == "2"
    modules = argv[argv.index("--lora-modules") + 1:]
    assert modules == [f"tuned-s0-0-0={a0.resolve()}", f"tuned-s1-1-1={a1.resolve()}"]
    generation = yaml.safe_load(plan.generation_yaml)["generation"]
    cfg = parse_config({"generation": generation})
    assert cfg.generation.endpoint.base_url == "http://127.0.0.1:8123/v1"
    assert cfg.generation.variant_models == {"tuned-s0-0-0": "tuned-s0-0-0",
                                             "tuned-s1-1-1": "tuned-s1-1-1"}


def test_base_is_the_folder_the_adapters_were_trained_on(tmp_path):
    trained_on = tmp_path / "dequantised"
    trained_on.mkdir()
    _adapter(tmp_path / "a", "k0", base=str(trained_on))
    _adapter(tmp_path / "a", "k1", base=str(trained_on))
    assert vllm_serve_plan(_rows(), tmp_path / "a").argv[2] == str(trained_on)
    assert vllm_serve_plan(_rows(), tmp_path / "a", base="org/x").argv[2] == "org/x"


def test_clear_errors(tmp_path):
    with pytest.raises(SafedriftError, match="adapter k0 of 'tuned-s0-0-0' is not in"):
        vllm_serve_plan(_rows(), tmp_path)
    _adapter(tmp_path, "k0"), _adapter(tmp_path, "k1")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(SafedriftError, match="pass --base"):
        vllm_serve_plan(_rows(str(gguf)), tmp_path)
    with pytest.raises(SafedriftError, match="no tuned variants"):
        vllm_serve_plan(_rows().iloc[:1], tmp_path)


def test_gpu_check_script_says_what_is_missing_in_one_line(tmp_path):
    """benchmarks/vllm_check.py is the single GPU check of the vLLM route; where vLLM is not
    installed (CI, this machine) it stops at once with one line, before running anything."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "vllm_check.py"
    env_path = str(tmp_path)  # a PATH without a vllm command
    proc = subprocess.run([sys.executable, str(script), "examples/quickstart.yaml",
                           "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=script.parents[1],
                          env={"PATH": env_path, "SAFEDRIFT_CACHE": str(tmp_path / "c")})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "vllm_check: the vllm command is not installed: pip install 'safedrift[vllm]'"]
    assert not (tmp_path / "out").exists()


def test_gpu_check_compares_answers_per_model():
    import importlib.util
    from pathlib import Path

    import pandas as pd

    script = Path(__file__).parents[1] / "benchmarks" / "vllm_check.py"
    spec = importlib.util.spec_from_file_location("vllm_check", script)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    base = {"benchmark": "b", "format": "chat", "sample_index": 0}
    ref = pd.DataFrame([{**base, "model_id": m, "item_id": i, "response": r, "refused": f}
                        for m, i, r, f in [("base", "1", "No.", True), ("base", "2", "Yes", False),
                                           ("tuned", "1", "Sure", False)]])
    served = ref.assign(response=["No.", "Yes!", "Sure"], refused=[True, True, False])
    table = check.compare(ref, served).set_index("model_id")
    assert table.loc["base", "answers"] == 2 and table.loc["base", "identical"] == 1
    assert table.loc["base", "refusal_ref"] == 0.5 and table.loc["base", "refusal_vllm"] == 1.0
    assert table.loc["tuned", "identical"] == 1


def test_gpu_check_sets_two_devices_answers_side_by_side(tmp_path):
    """benchmarks/gpu_check.py --compare: identical answers and refusal rates per model of two
    results files (a GPU run against the CPU reference); a missing file is one line."""
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    base = {"benchmark": "b", "format": "chat", "sample_index": 0}
    gpu = pd.DataFrame([{**base, "model_id": m, "item_id": i, "response": r, "refused": f}
                        for m, i, r, f in [("base", "1", "No.", True), ("base", "2", "Yes", False),
                                           ("tuned", "1", "Sure", False)]])
    cpu = gpu.assign(response=["No.", "Yes!", "Sure."], refused=[True, True, False])
    gpu.to_parquet(tmp_path / "gpu.parquet")
    cpu.to_parquet(tmp_path / "cpu.parquet")
    proc = subprocess.run([sys.executable, str(script), "--compare", str(tmp_path / "gpu.parquet"),
                           str(tmp_path / "cpu.parquet")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.strip().splitlines()]
    assert rows[0] == ["model_id", "answers", "identical", "refusal_a", "refusal_b"]
    assert rows[1] == ["base", "2", "1", "0.5", "1.0"] and rows[2][:3] == ["tuned", "1", "0"]
    proc = subprocess.run([sys.executable, str(script), "--compare", str(tmp_path / "gpu.parquet"),
                           str(tmp_path / "none.parquet")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"gpu_check: results file '{tmp_path / 'none.parquet'}': no such file"]
