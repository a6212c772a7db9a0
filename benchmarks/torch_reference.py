"""The KTG step in PyTorch, written the way the public PyTorch KTG code does it.

One ``nn.Module`` and one ``torch.optim.SGD`` per node; every step: N forward
passes on the same batch, the sources' outputs ``.detach()``-ed, each node's
loss = its gated label CE + the gated per-sample losses of its incoming edges
reduced over the batch ('mean': masked samples still count in the
denominator, docs/papers.md §2), one backward, then every optimizer steps — all nodes
updated simultaneously (docs/papers.md §1, thesis §3.2.4).

It reads the same ``GraphSpec`` and ``EdgeTable`` as ``ktg_jax`` (gate kinds,
parameters and loss kinds by id), so the same graph runs in both. It is the
yardstick of ``benchmarks/step_speed.py`` and of
``tests/test_torch_equivalence.py``; torch is never imported by ``ktg_jax/``.

Example:
  >>> ref = TorchKTG(spec, num_classes=10, total_steps=100, lr=0.1)
  >>> ref.load_flax(state)            # same initial weights as ktg_jax
  >>> node_loss = ref.step(images_nchw, labels)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks import torch_models
from ktg_jax.core import gates as gates_lib
from ktg_jax.core import losses as losses_lib
from ktg_jax.core import node_variables

# --- gates (docs/papers.md §3): the scalar schedule of t, then the per-sample mask ----

_SCHEDULES = {
    "through": lambda t, p: 1.0,
    "cutoff": lambda t, p: 0.0,
    "linear": lambda t, p: t,
    "negative_linear": lambda t, p: 1.0 - t,
    "correct": lambda t, p: 1.0,
    "sine": lambda t, p: 0.5 + 0.5 * math.sin(2 * math.pi * p[0] * t + p[1]),
    "positive_gamma": lambda t, p: t ** p[0],
    "negative_gamma": lambda t, p: (1.0 - t) ** p[0],
    "threshold": lambda t, p: 1.0,
    "ramp": lambda t, p: min(1.0, t / p[0]),
    "threshold_ramp": lambda t, p: min(1.0, t / p[1]),
}
_GATE_NAME = {k.id: k.name for k in gates_lib.KINDS}
_LOSS_NAME = {k.id: k.name for k in losses_lib.KINDS}


def gate_weight(kind_id: int, params, t: float, source_logits, labels):
  """Per-sample weight [B] of a gate (Correct: eq 3.7; Threshold: ch.5)."""
  name = _GATE_NAME[int(kind_id)]
  w = _SCHEDULES[name](min(max(t, 0.0), 1.0), [float(x) for x in params])
  ones = torch.ones_like(labels, dtype=source_logits.dtype)
  if name == "correct":
    return w * (source_logits.argmax(1) == labels).to(source_logits.dtype)
  if name in ("threshold", "threshold_ramp"):
    conf = F.softmax(source_logits, 1).max(1).values
    return w * (conf > float(params[0])).to(source_logits.dtype)
  return w * ones


# --- per-sample losses (docs/papers.md §2) ---------------------------------------------

def _kl(source, target, temperature=1.0):
  logp_s = F.log_softmax(source / temperature, 1)
  logp_t = F.log_softmax(target / temperature, 1)
  return (logp_s.exp() * (logp_s - logp_t)).sum(1)


def edge_loss(kind_id: int, param: float, source, target):
  """Per-sample loss [B] of an edge; ``source`` is already detached."""
  name = _LOSS_NAME[int(kind_id)]
  if name == "kl":
    return _kl(source, target)
  if name == "kd":
    return param ** 2 * _kl(source, target, param)
  if name == "prob_cosine":
    return F.cosine_similarity(F.softmax(source, 1), F.softmax(target, 1), 1)
  raise ValueError(f"loss id {kind_id} ({name}) has no torch twin")


def _reduce(per_sample, reduction):
  return per_sample.mean() if reduction == "mean" else per_sample.sum()


# --- the step ----------------------------------------------------------------

class TorchKTG:
  """N torch models + N SGD optimizers trained as one KTG graph.

  Args:
    spec: the ``ktg_jax.GraphSpec`` (models, frozen nodes, reduction).
    num_classes, total_steps: as ``ktg_jax.compile`` (t = k / total_steps).
    lr, momentum, nesterov, weight_decay: ``torch.optim.SGD``, the PyTorch
      semantics that ``ktg_jax.optim.sgd`` reproduces.
    edges: an ``EdgeTable``; default ``spec.edge_table()``.
    dtype, device: of the models and the step.
    in_channels: of the images (3: RGB; 1: Fashion-MNIST).
  """

  def __init__(self, spec, *, num_classes, total_steps, lr=0.1, momentum=0.9,
               nesterov=True, weight_decay=5e-4, edges=None,
               dtype=torch.float32, device="cpu", channels_last=False,
               in_channels=3):
    self.spec, self.total_steps = spec, total_steps
    self.reduction = spec.reduction
    self.frozen = set(spec.frozen_nodes())
    self.device, self.dtype = torch.device(device), dtype
    self.memory_format = (torch.channels_last if channels_last
                          else torch.contiguous_format)
    self.models = [torch_models.create(n.model, num_classes, in_channels).to(
        self.device, dtype, memory_format=self.memory_format)
        for n in spec.nodes]
    self.optimizers = [
        None if i in self.frozen else torch.optim.SGD(
            m.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
            weight_decay=weight_decay)
        for i, m in enumerate(self.models)]
    self.set_edges(spec.edge_table() if edges is None else edges)
    self.k = 0  # updates done (docs/papers.md §3: k)

  def set_edges(self, edges):
    """Reads the edge table (arrays) into Python scalars once."""
    self.edges = type(edges)(*(np.asarray(x) for x in edges))

  def load_flax(self, state):
    """Copies a ``KTGState``'s weights (trainable and frozen) into the models."""
    for i, model in enumerate(self.models):
      torch_models.copy_from_flax(model, node_variables(state, i))
    return self

  def node_losses(self, logits, labels):
    """``L_t = G_y,t(CE) + sum_s G_s,t(L_s,t)`` for every node (docs/papers.md §1)."""
    t = self.k / self.total_steps
    e, losses = self.edges, []
    self.gate_means = np.zeros((len(logits), len(logits)))
    detached = [z.detach() for z in logits]  # no gradient into a source
    for tgt, z_t in enumerate(logits):
      # A one-hot source passes Correct/Threshold masks: schedule only.
      w = _SCHEDULES[_GATE_NAME[int(e.label_kind[tgt])]](
          min(max(t, 0.0), 1.0), [float(x) for x in e.label_params[tgt]])
      loss = _reduce(w * F.cross_entropy(z_t, labels, reduction="none"),
                     self.reduction)
      for src, z_s in enumerate(detached):
        if src == tgt or _GATE_NAME[int(e.kind[src, tgt])] == "cutoff":
          continue
        w = gate_weight(e.kind[src, tgt], e.params[src, tgt], t, z_s, labels)
        # what ktg_jax reports as metrics["gate"][src, tgt]: a flipped
        # per-sample mask shows here before it shows in the parameters
        self.gate_means[src, tgt] = float(w.mean())
        per_sample = edge_loss(e.loss_kind[src, tgt],
                               float(e.loss_param[src, tgt]), z_s, z_t)
        loss = loss + _reduce(w * per_sample, self.reduction)
      losses.append(loss)
    return losses

  def forward(self, images):
    logits = []
    for i, model in enumerate(self.models):
      if i in self.frozen:  # a teacher: inference mode, no graph
        model.eval()
        with torch.no_grad():
          logits.append(model(images))
      else:
        model.train()
        logits.append(model(images))
    return logits

  def step(self, images, labels):
    """One KTG update of every trainable node; returns the node losses [N]."""
    images = images.to(self.device, self.dtype,
                       memory_format=self.memory_format)
    labels = labels.to(self.device)
    logits = self.forward(images)
    losses = self.node_losses(logits, labels)
    for opt in self.optimizers:
      if opt is not None:
        opt.zero_grad(set_to_none=True)
    # Sources are detached, so each node's loss reaches only its own weights:
    # one backward of the sum equals N separate backwards.
    live = [l for i, l in enumerate(losses) if i not in self.frozen]
    torch.stack(live).sum().backward()
    for opt in self.optimizers:
      if opt is not None:
        opt.step()
    self.k += 1
    return torch.stack([l.detach() for l in losses])


def nhwc_to_nchw(images) -> torch.Tensor:
  """ktg_jax images [B, H, W, C] (numpy/jax) -> a torch NCHW tensor."""
  return torch.from_numpy(np.ascontiguousarray(
      np.asarray(images).transpose(0, 3, 1, 2)))
