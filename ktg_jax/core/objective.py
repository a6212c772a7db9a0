"""The KTG objective: every node's loss from its gated incoming edge losses.

``slot_losses`` is what the compiled step (``ktg_jax.core.step``) minimises for
the slots its structure computes; ``graph_losses`` is the same objective on
one view of every ordered node pair and label edge (tests, the PyTorch
equivalence harness).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ktg_jax.core import gates
from ktg_jax.core import losses
from ktg_jax.core.parts import DEFAULT_VIEW, LABEL, EdgeTable, Slot


def _concat(dicts):
  if len(dicts) == 1:
    return dicts[0]
  return {k: jnp.concatenate([d[k] for d in dicts]) for k in dicts[0]}


def slot_losses(slots, edges: EdgeTable, outputs, labels, t, reduction,
                parts, kinds, num_nodes, label_outputs=None, own_losses=None):
  """Every node's loss from the slots' gated edge losses: the KTG objective.

  ``L_t = G_{y,t}(CE(y, p_t)) + G_{t,t}(L_{t,t}) + sum_{s != t} G_{s,t}(L_{s,t})``
  (docs/papers.md §1, thesis eq 3.3, ch.5 eq 5.9): each edge's per-sample loss gated, then
  reduced over the samples the edge acts on.

  Args:
    slots: the edges to compute (``GraphSpec.slots()``).
    edges: the edge table (arrays).
    outputs: per node, a dict ``(view, part) -> output dict``.
    labels: int[B_l] labels of the labelled part.
    t: training progress k / k_end in [0, 1].
    reduction: "mean" or "sum" over the samples (docs/papers.md §2).
    parts: samples kind -> the parts ("l", "u") it covers.
    kinds: the LossKinds the structure can select.
    num_nodes: N.
    label_outputs: per node, the outputs a label edge trains (their CEs are
      summed, then gated: ABN's ``logits`` + ``attention_logits``); None =
      ``("logits",)`` everywhere.
    own_losses: node -> a batch-level loss that its label slot gates instead
      of the CE (an ``ssl`` node's own objective, 000; times the batch size
      under ``reduction="sum"``).

  Returns:
    (node_loss[N], aux) with label losses [N], edge losses [N_source,
    N_target], mean gate weights of both.
  """
  zero = jnp.zeros((), jnp.float32)
  node_loss = [zero] * num_nodes
  label_loss, label_gate = [zero] * num_nodes, [zero] * num_nodes
  edge_loss = [[zero] * num_nodes for _ in range(num_nodes)]
  gate = [[zero] * num_nodes for _ in range(num_nodes)]
  for s in slots:
    use = parts[s.samples]
    tgt = _concat([outputs[s.target][(s.target_view, p)] for p in use])
    if s.source == LABEL:
      w = gates.schedules(edges.label_kind[s.target],
                          edges.label_params[s.target], t)
      heads = label_outputs[s.target] if label_outputs else ("logits",)
      if own_losses and s.target in own_losses:
        own = own_losses[s.target]
        loss = w * (own * labels.shape[0] if reduction == "sum" else own)
      else:
        loss = w * sum(losses.reduce_batch(
            losses.cross_entropy(labels, tgt[h]), reduction) for h in heads)
      label_loss[s.target], label_gate[s.target] = loss, w
    else:
      src = jax.lax.stop_gradient(  # edge direction: no gradient into s
          _concat([outputs[s.source][(s.source_view, p)] for p in use]))
      sample_labels = jnp.concatenate(
          [labels if p == "l" else -jnp.ones(
              outputs[s.source][(s.source_view, "u")]["logits"].shape[:1],
              labels.dtype) for p in use])
      kind, param = edges.loss_kind[s.source, s.target], edges.loss_param[
          s.source, s.target]
      # Only kinds both ends can feed (an ensemble node has logits only).
      readable = [k for k in kinds if set(k.reads) <= set(src) & set(tgt)]
      per_sample = losses.select(readable, kind, param, src, tgt)
      # Correct needs a label: an unlabelled sample (label -1) never passes it.
      w = gates.gate_weights(edges.kind[s.source, s.target],
                             edges.params[s.source, s.target], t,
                             jax.nn.softmax(src["logits"], -1), sample_labels)
      loss = losses.reduce_batch(w * per_sample, reduction)
      edge_loss[s.source][s.target] = loss
      gate[s.source][s.target] = jnp.mean(w)
    node_loss[s.target] = node_loss[s.target] + loss
  aux = {"label_loss": jnp.stack(label_loss),
         "edge_loss": jnp.stack([jnp.stack(r) for r in edge_loss]),
         "gate": jnp.stack([jnp.stack(r) for r in gate]),
         "label_gate": jnp.stack(label_gate)}
  return jnp.stack(node_loss), aux


def graph_losses(edges: EdgeTable, logits, labels, t, reduction: str):
  """``slot_losses`` of every ordered pair and label edge on one view.

  ``logits``: float[N, B, C] of every node on the same labelled batch.
  """
  n = logits.shape[0]
  slots = [Slot(LABEL, i, None, DEFAULT_VIEW, "labeled") for i in range(n)]
  slots += [Slot(s, i, DEFAULT_VIEW, DEFAULT_VIEW, "all") for i in range(n)
            for s in range(n) if s != i]
  outputs = [{(DEFAULT_VIEW, "l"): {"logits": logits[i]}} for i in range(n)]
  kinds = [k for k in losses.KINDS if k.reads == ("logits",)]
  return slot_losses(slots, edges, outputs, labels, t, reduction,
                     {"all": ("l",), "labeled": ("l",)}, kinds, n)
