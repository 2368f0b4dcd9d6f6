"""LoRA fine-tuning with transformers + PEFT, one readable loop.

Three seeds are kept apart (Dodge et al. 2020 separate weight initialisation from data order):
`init` seeds the LoRA matrices, `data_order` shuffles the examples, `dropout` seeds the dropout
masks. The loss covers the whole conversation (`loss_on="all"`, what a plain causal-LM
fine-tune with labels = input_ids does) or the assistant's answer only (`loss_on="answer"`);
logits are computed only where there is a target, which saves the 150k-word output layer on
untargeted tokens.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from safedrift.formats import ChatTemplate, PromptFormat


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 30
    batch_size: int = 4
    learning_rate: float = 5e-4
    max_length: int = 128
    warmup_steps: int = 0
    grad_clip: float = 1.0
    loss_on: str = "all"  # "all": the whole conversation; "answer": assistant tokens only


@dataclass(frozen=True)
class FinetuneSeeds:
    init: int
    data_order: int
    dropout: int


@dataclass
class TrainResult:
    losses: list[float]
    learning_rates: list[float]
    n_examples: int
    threads: int


def _batches(n: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """Index batches for `steps` steps: epochs of a seeded permutation, concatenated."""
    rng = np.random.default_rng(seed)
    needed = steps * batch_size
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(needed / n))])[:needed]
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def tokenize_examples(tok, template: ChatTemplate, examples, fmt: PromptFormat, max_length: int):
    """(input ids, number of prompt tokens) per example, truncated to max_length."""
    out = []
    for ex in examples:
        prompt, answer = template.training_pair(ex, fmt)
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        a = tok(answer, add_special_tokens=False)["input_ids"]
        ids = (p + a)[:max_length]
        if len(ids) > len(p):  # keep only examples with at least one answer token
            out.append((ids, len(p)))
    return out


def train_lora(net, tok, template: ChatTemplate, examples, fmt: PromptFormat,
               lora: LoraSettings, train: TrainSettings, seeds: FinetuneSeeds,
               on_step: Callable[[int, float], None] | None = None):
    """Wrap `net` with a fresh LoRA adapter and train it. Returns (peft model, TrainResult)."""
    import torch
    from peft import LoraConfig, get_peft_model

    threads = int(os.environ.get("SAFEDRIFT_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    device = next(net.parameters()).device
    data = tokenize_examples(tok, template, examples, fmt, train.max_length)
    if not data:
        from safedrift.errors import SafedriftError

        raise SafedriftError("fine-tuning data: no example fits in max_length tokens")

    torch.manual_seed(seeds.init)
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=lora.target_modules if isinstance(lora.target_modules, str)
                        else list(lora.target_modules), task_type="CAUSAL_LM", bias="none")
    model = get_peft_model(net, config)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=0.0)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    body = model.get_base_model().model
    head = model.get_base_model().get_output_embeddings()

    torch.manual_seed(seeds.dropout)
    model.train()
    losses, lrs = [], []
    for step, idx in enumerate(_batches(len(data), train.batch_size, train.steps, seeds.data_order)):
        rows = [data[i] for i in idx]
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        target = torch.full((len(rows), width), -100, dtype=torch.long)
        for r, (ids, n_prompt) in enumerate(rows):
            input_ids[r, :len(ids)] = torch.tensor(ids)
            attention[r, :len(ids)] = 1
            first = n_prompt if train.loss_on == "answer" else 0
            target[r, first:len(ids)] = torch.tensor(ids[first:])
        input_ids, attention, target = (t.to(device) for t in (input_ids, attention, target))
        # position t predicts token t+1: keep positions whose next token is a target
        next_target = target[:, 1:]
        keep = next_target != -100
        hidden = body(input_ids=input_ids, attention_mask=attention).last_hidden_state[:, :-1]
        logits = head(hidden[keep]).float()
        loss = torch.nn.functional.cross_entropy(logits, next_target[keep])
        lr = train.learning_rate * min(1.0, (step + 1) / train.warmup_steps) \
            if train.warmup_steps else train.learning_rate
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, train.grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
        lrs.append(lr)
        if on_step:
            on_step(step, losses[-1])
    model.eval()
    return model, TrainResult(losses, lrs, len(data), threads)
