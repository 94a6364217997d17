"""Adapting an ArcFace recogniser to an anonymisation: the semi-informed attacker's training.

The attacker renders the training pool that the submission anonymised (persons disjoint from dev
and test), aligns each face as the attack does, and fine-tunes the recogniser's output block (every
layer after the last residual join: 1x1 convolutions, the embedding layer and its batch norm) with
the additive angular margin loss of ArcFace (Deng et al., CVPR 2019):

    L = -log( e^{s cos(theta_y + m)} / (e^{s cos(theta_y + m)} + sum_{j != y} e^{s cos theta_j}) )

The frozen trunk's features are computed once, so training runs on the CPU within a time budget.
Seeded: the same pool and config give the same weights.
"""

from __future__ import annotations

import time
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.config import FinetuneConfig
from benchmark.core.errors import BenchmarkError
from benchmark.attacks.adapt.onnx_torch import OnnxGraphModule, apply_op, arcface_preprocess


class SplitRecognizer(nn.Module):
    """An ONNX recogniser cut after its last residual join: a frozen trunk and a trainable head."""

    def __init__(self, onnx_path: str):
        super().__init__()
        self.graph = OnnxGraphModule(onnx_path)
        adds = [i for i, (op, *_) in enumerate(self.graph.nodes) if op == "Add"]
        self.cut = adds[-1] + 1 if adds else max(0, len(self.graph.nodes) - 3)
        produced_before = {self.graph.input_name} | {o for _, _, outs, _ in self.graph.nodes[: self.cut] for o in outs}
        needed = {i for _, ins, _, _ in self.graph.nodes[self.cut:] for i in ins}
        self.live = sorted(needed & produced_before)
        head_inputs = {self.graph._names[i] for _, ins, _, _ in self.graph.nodes[self.cut:] for i in ins
                       if i in self.graph._names}
        for key, p in self.graph.params.items():
            p.requires_grad_(key in head_inputs)

    def _run(self, env: dict[str, torch.Tensor], start: int, stop: int) -> dict[str, torch.Tensor]:
        for op, inputs, outputs, attrs in self.graph.nodes[start:stop]:
            env[outputs[0]] = apply_op(op, [self.graph._value(env, n) for n in inputs if n], attrs)
        return env

    @torch.no_grad()
    def trunk(self, x: torch.Tensor) -> list[torch.Tensor]:
        env = self._run({self.graph.input_name: x}, 0, self.cut)
        return [env[n] for n in self.live]

    def head(self, feats: list[torch.Tensor]) -> torch.Tensor:
        env = self._run(dict(zip(self.live, feats)), self.cut, len(self.graph.nodes))
        return env[self.graph.output_name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def head_state(self) -> dict[str, np.ndarray]:
        return {k: p.detach().numpy().copy() for k, p in self.graph.params.items() if p.requires_grad}

    def load_head_state(self, state: dict[str, np.ndarray]) -> None:
        for k, v in state.items():
            self.graph.params[k].data = torch.from_numpy(np.asarray(v, np.float32))

    @torch.no_grad()
    def embed(self, aligned_bgr: np.ndarray, flip: bool = True, batch: int = 64) -> np.ndarray:
        """(N, 112, 112, 3) BGR uint8 crops -> (N, D) embeddings; with ``flip`` the sum of the
        L2-normalised embeddings of each crop and its mirror image (the flip test, as the attack does)."""
        self.eval()
        out = []
        for i in range(0, len(aligned_bgr), batch):
            x = arcface_preprocess(aligned_bgr[i:i + batch])
            y = self(x)
            if flip:
                y = F.normalize(y, dim=1) + F.normalize(self(torch.flip(x, dims=[3])), dim=1)
            out.append(y.numpy())
        return np.concatenate(out).astype(np.float64)


def finetune(model: SplitRecognizer, aligned_bgr: np.ndarray, labels: np.ndarray, cfg: FinetuneConfig) -> dict:
    """Fine-tune ``model``'s head in place with the ArcFace loss; returns a training log."""
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise BenchmarkError("the attacker's training pool needs at least two persons to adapt on")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x = arcface_preprocess(aligned_bgr)
    x = torch.cat([x, torch.flip(x, dims=[3])])  # mirror augmentation
    y_t = torch.from_numpy(np.concatenate([y, y])).long()
    feats = []
    for i in range(0, len(x), 64):
        feats.append(model.trunk(x[i:i + 64]))
    feats = [torch.cat([f[k] for f in feats]) for k in range(len(model.live))]
    with torch.no_grad():
        emb = F.normalize(model.head(feats), dim=1)
        centres = torch.stack([emb[y_t == c].mean(0) for c in range(len(classes))])
    weight = nn.Parameter(F.normalize(centres, dim=1).clone())  # class centres as the initial weights
    params = [p for p in model.parameters() if p.requires_grad] + [weight]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    n = len(y_t)
    steps_per_epoch = max(1, int(np.ceil(n / cfg.batch_size)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    start = time.perf_counter()
    log = {"epochs": 0, "loss": [], "n_images": int(n), "n_classes": int(len(classes))}
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            out = F.normalize(model.head([f[idx] for f in feats]), dim=1)
            loss = arcface_loss(out, F.normalize(weight, dim=1), y_t[idx], cfg.margin, cfg.scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log["loss"].append(total / n)
        log["epochs"] = epoch + 1
        if cfg.budget_s is not None and time.perf_counter() - start > cfg.budget_s:
            break
    log["seconds"] = time.perf_counter() - start
    model.eval()
    return log


def arcface_loss(emb: torch.Tensor, weight: torch.Tensor, y: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
    """Additive angular margin softmax loss on L2-normalised embeddings and class weights."""
    cos = (emb @ weight.t()).clamp(-1 + 1e-7, 1 - 1e-7)
    target = torch.cos(torch.acos(cos.gather(1, y[:, None])) + margin)
    logits = cos.scatter(1, y[:, None], target) * scale
    return F.cross_entropy(logits, y)
