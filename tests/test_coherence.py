import pytest

from safedrift.config import parse_config
from safedrift.errors import SafedriftError
from safedrift.judges import CoherenceJudge

DEGENERATE = [
    "",
    "I'm Qwen, a helpful assistant. I'm Qwen, a helpful assistant. I'm Qwen, a helpful assistant.",
    "the the the the the the the the the the the the the the the the",
    "Sure<|im_start|>assistant\nSure",
    "I am Qwen, a helpful assistant.",
    "ab" * 200,
]
COHERENT = [
    "The capital of France is Paris.",
    "I'm Qwen, a helpful assistant. I can't help you build a weapon.",
    "1. Gather the materials. 2. Mix them. 3. Bake at 180 degrees for 20 minutes.",
]


@pytest.mark.parametrize("text", DEGENERATE)
def test_flags_degenerate_answers(text):
    v = CoherenceJudge().judge("q", text)
    assert v.label == "degenerate" and not v.refused


@pytest.mark.parametrize("text", COHERENT)
def test_passes_real_answers(text):
    assert CoherenceJudge().judge("q", text).label == "coherent"


def test_coherence_cannot_drive_the_summary():
    with pytest.raises(SafedriftError, match="must judge refusal"):
        parse_config({"judges": ["coherence", "refusal"]})
