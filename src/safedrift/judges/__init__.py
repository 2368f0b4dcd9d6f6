"""Judges turn a (prompt, response) pair into a verdict. One registry, here."""

from safedrift.judges.answer import AnswerMatchJudge
from safedrift.judges.coherence import (DEFAULT_REFERENCE, CoherenceJudge,
                                        PerplexityCoherenceJudge)
from safedrift.judges.harm import ProxyHarmJudge
from safedrift.judges.reasoning import split_reasoning, unfinished_verdict
from safedrift.judges.refusal import KeywordRefusalJudge, PatternRefusalJudge, Verdict
from safedrift.judges.toxicity import (DetoxifyJudge, LinearToxicityJudge, LocalToxicityJudge,
                                       ToxigenRobertaJudge)

JUDGES = {"refusal": PatternRefusalJudge, "keyword": KeywordRefusalJudge,
          "coherence": CoherenceJudge, "coherence-ppl": PerplexityCoherenceJudge,
          "answer-match": AnswerMatchJudge, "harm-proxy": ProxyHarmJudge,
          "toxicity": LocalToxicityJudge, "toxicity-linear": LinearToxicityJudge,
          "toxigen-roberta": ToxigenRobertaJudge,
          "detoxify": DetoxifyJudge}


def make_judge(entry, base_model=None, temperature: float = 0.0):
    """A judge from its registry name, or from an LLM judge section of the config.
    `base_model` (a resolved model): the study's base, the reference of `coherence-ppl` when
    it is a GGUF; `temperature`: the answers' sampling temperature, which sets the threshold
    of `coherence-ppl` (sampled answers have their own)."""
    from safedrift.errors import SafedriftError

    if not isinstance(entry, str):
        from safedrift.judges.llm import LLMJudge, LLMJudgeSettings, VerdictCache
        from safedrift.provenance import cache_dir

        settings = LLMJudgeSettings(
            entry.rubric, entry.endpoint.settings() if entry.endpoint else None,
            entry.judge_name, entry.temperature, entry.seed, entry.max_tokens, entry.prompt_file,
            entry.model, entry.n_ctx)
        return LLMJudge(settings, VerdictCache(cache_dir() / "judge_cache.sqlite"))
    if entry not in JUDGES:
        raise SafedriftError(f"unknown judge '{entry}' (known: {', '.join(JUDGES)})")
    if entry == "coherence-ppl":
        ref = (base_model.ref if base_model is not None and base_model.gguf_path
               else DEFAULT_REFERENCE)
        return PerplexityCoherenceJudge(ref, temperature=temperature)
    return JUDGES[entry]()


def judge_all(judge, prompts, responses, references=None, on_done=None) -> list[Verdict]:
    """Verdicts in order: through `judge_many` where the judge has it (an LLM judge: concurrent
    requests, or its local model), else one answer at a time; `on_done(i)` reports progress.
    Judges read the answer without its reasoning trace; an output that ended inside its
    reasoning gets a `no_answer` verdict (judges/reasoning.py)."""
    splits = [split_reasoning(r) for r in responses]
    unfinished = {i: unfinished_verdict(s) for i, s in enumerate(splits) if s.unfinished}
    verdicts: list[Verdict | None] = [unfinished.get(i) for i in range(len(splits))]
    todo = [i for i in range(len(splits)) if i not in unfinished]
    for i in unfinished:
        if on_done:
            on_done(i)
    prompts = [prompts[i] for i in todo]
    answers = [splits[i].answer for i in todo]
    done = (lambda k: on_done(todo[k])) if on_done else None
    if hasattr(judge, "judge_many"):
        judged = judge.judge_many(prompts, answers, done)
    else:
        references = [None] * len(todo) if references is None else [references[i] for i in todo]
        judged = []
        for k, (prompt, answer, ref) in enumerate(zip(prompts, answers, references)):
            judged.append(judge.judge(prompt, answer, ref))
            if done:
                done(k)
    for i, v in zip(todo, judged):
        verdicts[i] = v
    return verdicts


def judge_kind(name: str, results=None) -> str:
    """The kind of judge `name`: from the results' judge_kind column when it has one (LLM
    judges carry user-chosen names), else from the registry; rows written before the column
    existed hold refusal judges only."""
    if results is not None and "judge_kind" in results:
        kinds = results.loc[results["judge"] == name, "judge_kind"].dropna()
        if len(kinds):
            return str(kinds.iloc[0])
    return JUDGES[name].kind if name in JUDGES else "refusal"


__all__ = ["JUDGES", "AnswerMatchJudge", "CoherenceJudge", "KeywordRefusalJudge",
           "PatternRefusalJudge", "PerplexityCoherenceJudge", "Verdict", "judge_all",
           "judge_kind", "make_judge"]
