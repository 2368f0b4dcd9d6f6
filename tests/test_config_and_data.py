import json

import pytest

from safedrift.config import ExperimentConfig, load_config, parse_config
from safedrift.errors import SafedriftError
from safedrift.finetune.data import builtin_examples, load_examples, load_file_examples


def test_empty_config_is_the_quickstart():
    cfg = parse_config({})
    assert cfg.model.ref == "embedded:qwen2.5-coder-0.5b-instruct"
    assert [s.init for s in cfg.finetune.seed_triples()] == [0, 1, 2]
    assert [b.name for b in cfg.benchmarks] == ["smoke-harmful", "smoke-harmless"]


def test_config_hash_ignores_output_only():
    from safedrift.hashing import hash_obj

    a = parse_config({"output": "x"})
    b = parse_config({"output": "y"})
    c = parse_config({"finetune": {"train": {"steps": 31}}})
    assert hash_obj(a.identity()) == hash_obj(b.identity()) != hash_obj(c.identity())


@pytest.mark.parametrize("data,expected", [
    ({"finetune": {"lora": {"r": "eight"}}}, "finetune.lora.r"),
    ({"benchmarks": [{"name": "advbenchh"}]}, "unknown benchmark 'advbenchh'"),
    ({"judges": ["gpt5"]}, "unknown judge 'gpt5'"),
    ({"modle": {}}, "modle: unknown field"),
    ({"sampling": {"top_p": 2}}, "sampling.top_p"),
    # a repeated entry would be counted twice in every rate and test
    ({"benchmarks": [{"name": "xstest", "limit": 5}, {"name": "xstest"}]},
     "benchmarks: benchmark 'xstest' is listed twice"),
    ({"finetune": {"seeds": [1, {"init": 1, "data_order": 1, "dropout": 1}]}},
     "finetune.seeds: seed entry 1 (init=1, data_order=1, dropout=1) repeats an earlier one"),
])
def test_invalid_fields_name_the_culprit(data, expected):
    with pytest.raises(SafedriftError) as e:
        parse_config(data, "exp.yaml")
    assert expected in str(e.value) and str(e.value).startswith("exp.yaml: ")
    assert "\n" not in str(e.value)


def test_seed_triples_keep_axes_apart(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("finetune:\n  seeds: [3, {init: 1, data_order: 2, dropout: 0}]\n")
    triples = load_config(path).finetune.seed_triples()
    assert [(t.init, t.data_order, t.dropout) for t in triples] == [(3, 3, 3), (1, 2, 0)]


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(SafedriftError, match="bad.yaml: not valid YAML at line"):
        load_config(bad)
    with pytest.raises(SafedriftError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_example_config_validates():
    from pathlib import Path

    cfg = load_config(Path(__file__).parent.parent / "examples" / "quickstart.yaml")
    assert cfg == ExperimentConfig(**{**cfg.model_dump()})


def test_builtin_data_is_deterministic_and_correct():
    a = builtin_examples("arithmetic", 60, seed=4)
    assert a == builtin_examples("arithmetic", 60, seed=4)
    assert a != builtin_examples("arithmetic", 60, seed=5)
    for ex in a:
        q, ans = ex[0]["content"], ex[1]["content"]
        if q.startswith(("What is", "Calculate", "Compute")):
            lhs, rhs = ans.rstrip(".").split(" = ")
            x, op, y = lhs.split(" ")
            expected = {"+": int(x) + int(y), "-": int(x) - int(y), "×": int(x) * int(y)}[op]
            assert int(rhs) == expected
        elif q.startswith("Convert"):
            n = int(q.split()[1])
            assert ans.startswith(f"{n} ")
    kinds = {ex[0]["content"].split()[0] for ex in a}
    assert {"Convert", "Write"} <= kinds


def test_file_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"instruction": "Add", "input": "2 and 3", "output": "5"}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "hello"}]}) + "\n")
    rows = load_file_examples(tmp_path / "a.jsonl")
    assert rows[0][0]["content"] == "Add\n\n2 and 3" and rows[0][1]["content"] == "5"
    assert rows[1][1] == {"role": "assistant", "content": "hello"}
    (tmp_path / "b.csv").write_text("prompt,response\nWhat is 1+1?,2\n")
    assert load_examples(str(tmp_path / "b.csv"), None, 0)[0][1]["content"] == "2"


@pytest.mark.parametrize("name,content,message", [
    ("x.jsonl", "{not json}\n", "x.jsonl:1: not valid JSON"),
    ("y.csv", "question,text\nq,t\n", "needs 'messages'"),
    ("z.txt", "hello", "use .csv, .jsonl, .json, .parquet"),
    ("w.json", "{\"a\": 1}", "must hold a list"),
    ("v.jsonl", "[1, 2]\n", "row 1 is not an object"),
    ("u.csv", "", "no rows"),
])
def test_bad_data_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SafedriftError, match=message.replace("(", r"\(")):
        load_file_examples(tmp_path / name)


def test_unknown_builtin():
    with pytest.raises(SafedriftError, match="builtin:poetry"):
        load_examples("builtin:poetry", 3, 0)


@pytest.mark.shared_data
@pytest.mark.parametrize("path,n,first_user_start", [
    ("alpaca_demo/alpaca_en_demo.json", 999, None),
    ("gsm8k/train.jsonl", 7473, "Natalia sold clips"),
])
def test_real_benign_datasets_load(shared_data, path, n, first_user_start):
    rows = load_examples(str(shared_data / path), None, 0)
    assert len(rows) == n
    assert all(r[-1]["role"] == "assistant" and r[-1]["content"] for r in rows)
    if first_user_start:
        assert rows[0][0]["content"].startswith(first_user_start)


def test_prompt_formats_validate():
    cfg = parse_config({"generation": {"formats": ["chat", "raw", {"name": "x", "system": "s"}]}})
    assert len(cfg.generation.formats) == 3
    with pytest.raises(SafedriftError, match="unknown prompt format 'chatt'"):
        parse_config({"generation": {"formats": ["chatt"]}})
    with pytest.raises(SafedriftError, match="unique"):
        parse_config({"generation": {"formats": ["chat", "chat"]}})
    with pytest.raises(SafedriftError, match="finetune.format"):
        parse_config({"finetune": {"format": "nope"}})
