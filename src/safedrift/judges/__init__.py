"""Judges turn a (prompt, response) pair into a verdict."""

from safedrift.judges.refusal import (JUDGES, KeywordRefusalJudge, PatternRefusalJudge, Verdict,
                                      make_judge)

__all__ = ["JUDGES", "KeywordRefusalJudge", "PatternRefusalJudge", "Verdict", "make_judge"]
