"""Pictures of a run: the graph, its gate schedules, accuracy curves (PNG).

Drawn with matplotlib's object-oriented API on a private Agg canvas
(``ktg_jax.viz.figures``; the process's backend is never switched): a graph of at most a
handful of nodes is laid out on a circle by hand, so no system ``graphviz``
binary (``dot``) and no pygraphviz build is needed on a fresh machine.

Example:
  >>> import os, tempfile
  >>> from ktg_jax import classic
  >>> path = draw_graph(classic.dml(2, "small_cnn"),
  ...                   os.path.join(tempfile.mkdtemp(), "graph.png"))
  >>> os.path.getsize(path) > 0
  True
"""

from __future__ import annotations

import math
import os

from matplotlib.patches import Circle, FancyArrowPatch
import numpy as np

from ktg_jax.viz import figures
from ktg_jax.core import losses as losses_lib
from ktg_jax.core.spec import LABEL, GraphSpec

TARGET_COLOR, NODE_COLOR, FROZEN_COLOR, LABEL_COLOR = (
    "#f4a261", "#a8dadc", "#d9d9d9", "#f1f1f1")
NODE_RADIUS = 0.3


def gate_text(gate) -> str:
  """``sine(f=0.5, phi=4.71)``: the gate's name and parameters, short."""
  params = ", ".join(f"{k}={v:.3g}" for k, v in gate.to_json().items()
                     if k != "name")
  return f"{gate.name}({params})" if params else gate.name


def _layout(n: int) -> dict:
  """Model nodes on a circle, node 0 at the top."""
  if n == 1:
    return {0: (0.0, 0.0)}
  return {i: (math.sin(2 * math.pi * i / n), math.cos(2 * math.pi * i / n))
          for i in range(n)}


def _label_position(pos: dict, i: int, n: int) -> tuple:
  """Where node i's label stub sits: radially outside it (left of a lone node).

  One "label y" box per label edge instead of one shared box: the label edges
  then never cross the node edges, which is what made the picture unreadable.
  """
  if n == 1:
    return (-1.2, 0.0)
  x, y = pos[i]
  return (1.75 * x, 1.75 * y)


def label_point(p, q, rad: float, at: float = 0.5) -> tuple:
  """The point at parameter ``at`` of the arc3 curve p -> q (a quadratic
  Bezier whose control point is the midpoint offset by ``rad`` * length,
  perpendicular). Two-way edges put their texts at ``at`` > 0.5, each
  nearer its own target and on its own side, so the two never overlap.

  >>> label_point((0, 0), (2, 0), 0.0)
  (1.0, 0.0)
  >>> label_point((0, 0), (2, 0), 0.5)  # half the control offset (0.5 * 2)
  (1.0, -0.5)
  """
  (x0, y0), (x1, y1) = p, q
  cx = (x0 + x1) / 2 + rad * (y1 - y0)
  cy = (y0 + y1) / 2 - rad * (x1 - x0)
  a, b, c = (1 - at) ** 2, 2 * at * (1 - at), at ** 2
  return (float(a * x0 + b * cx + c * x1), float(a * y0 + b * cy + c * y1))


def _edge(ax, p, q, text, color, rad, shrink_a=30, at=0.5):
  """A curved arrow p -> q stopping at the node circles, its text on the
  curve at parameter ``at`` (``label_point``)."""
  (x0, y0), (x1, y1) = p, q
  arrow = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>",
                          mutation_scale=14, lw=1.3, color=color,
                          connectionstyle=f"arc3,rad={rad}",
                          shrinkA=shrink_a, shrinkB=36, zorder=1)
  ax.add_patch(arrow)
  tx, ty = label_point(p, q, rad, at)
  ax.text(tx, ty, text, fontsize=7.5, ha="center", va="center", color=color,
          zorder=3, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                              alpha=0.85))


def _self_loop(ax, center, text, color="#1d3557"):
  """A loop from the node's rim back to it, outward from the circle's centre."""
  x, y = center
  angle = math.atan2(y, x) if (x, y) != (0.0, 0.0) else math.pi / 2
  r = NODE_RADIUS
  a, b = angle - 0.5, angle + 0.5
  p = (x + r * math.cos(a), y + r * math.sin(a))
  q = (x + r * math.cos(b), y + r * math.sin(b))
  ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=14,
                               lw=1.3, color=color, shrinkA=0, shrinkB=0,
                               connectionstyle="arc3,rad=2.0", zorder=3))
  d = r + 0.4
  ax.text(x + d * math.cos(angle), y + d * math.sin(angle), text,
          fontsize=7.5, ha="center", va="bottom", color=color, zorder=3,
          bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                    alpha=0.85))


def draw_graph(spec: GraphSpec, path: str, title: str | None = None) -> str:
  """The graph: nodes with their models (target highlighted, frozen grey),
  the label node, and every non-Cutoff edge with its gate (and loss)."""
  return _save(graph_figure(spec, title), path)


def graph_figure(spec: GraphSpec, title: str | None = None):
  """``draw_graph``'s figure (a ``matplotlib.figure.Figure``), not saved."""
  n = spec.num_nodes
  pos = _layout(n)
  fig, ax = figures.subplots(figsize=(7, 6.5))
  for (src, tgt), edge in spec.edges.items():
    if edge.gate.name == "cutoff":
      continue
    text = gate_text(edge.gate)
    if src == LABEL:  # the gate is written in the label box itself
      p = _label_position(pos, tgt, n)
      head = ("own: " + spec.nodes[tgt].learner if spec.nodes[tgt].kind
              == "ssl" else "label y")  # an ssl node's own objective (000)
      ax.text(*p, f"{head}\n{text}", ha="center", va="center", fontsize=7.5,
              zorder=4, bbox=dict(boxstyle="square,pad=0.4", fc=LABEL_COLOR,
                                  ec="#555555"))
      _edge(ax, p, pos[tgt], "", "#555555", 0.0, shrink_a=18)
      continue
    if edge.loss != "kl":
      name = losses_lib.BY_NAME[edge.loss].param_name
      text += f"\n{edge.loss}" + (
          f" {'T' if name == 'temperature' else name}={edge.loss_param:g}"
          if name and edge.loss_param is not None else "")
    if edge.source_view != edge.target_view or edge.source_view != "default":
      text += f"\n{edge.source_view}->{edge.target_view}"
    if edge.samples != "all":
      text += f"\n({edge.samples})"
    if src == tgt:  # a self-loop (ch.5 eq 5.9)
      _self_loop(ax, pos[src], text)
      continue
    two_way = (tgt, src) in spec.edges and spec.gate(tgt, src).name != "cutoff"
    _edge(ax, pos[src], pos[tgt], text, "#1d3557", 0.35 if two_way else 0.25,
          at=0.68 if two_way else 0.5)
  kinds = spec.node_kinds()
  for i, node in enumerate(spec.nodes):
    face = (TARGET_COLOR if i == spec.target else
            FROZEN_COLOR if kinds[i] in ("frozen", "ema") else NODE_COLOR)
    ax.add_patch(Circle(pos[i], NODE_RADIUS, fc=face, ec="black",
                            lw=2.5 if i == spec.target else 1.0, zorder=2))
    role = {"frozen": "frozen", "pretrained": "pre-trained",
            "ema": f"EMA of {node.of}",
            "ensemble": "ensemble"}.get(kinds[i], "")
    if i == spec.target:
      role = f"target, {role}" if role else "target"
    name = (node.model if node.model else
            "mean of " + ",".join(map(str, node.members)))
    if node.learner:
      name = f"{node.learner}\n{name}"
    ax.text(*pos[i], f"{i}\n{name}" + (f"\n({role})" if role else ""),
            ha="center", va="center", fontsize=8, zorder=4)
    if kinds[i] == "ensemble":
      for m in node.members:
        _edge(ax, pos[m], pos[i], "", "#999999", 0.0)
  xy = np.asarray(list(pos.values()) + [_label_position(pos, i, n)
                                         for i in range(n)])
  pad = 1.4 if any(s == t for s, t in spec.edges) else 0.4  # self-loop text
  ax.set_xlim(xy[:, 0].min() - 0.55, xy[:, 0].max() + 0.55)
  ax.set_ylim(xy[:, 1].min() - 0.4, xy[:, 1].max() + pad)
  ax.set_aspect("equal")
  ax.axis("off")
  ax.set_title(title or f"KTG: {n} node(s), target = node {spec.target} "
               "(edges: gate, loss if not KL)", fontsize=10)
  return fig


def draw_gates(spec: GraphSpec, path: str) -> str:
  """Every non-Cutoff edge's gate schedule over training progress t (docs/papers.md §3).

  Per-sample gates (Correct, Threshold) are drawn as their schedule (1),
  dashed: their per-sample mask depends on the data and is not shown.
  """
  t = np.linspace(0.0, 1.0, 201)
  fig, ax = figures.subplots(figsize=(6.5, 4))
  groups = {}  # edges with the same gate share one curve (no hidden overlaps)
  for (src, tgt), edge in spec.edges.items():
    if edge.gate.name != "cutoff":
      groups.setdefault(edge.gate, []).append(
          f"{'y' if src == LABEL else src}→{tgt}")
  for gate, names in groups.items():
    dashed = gate.kind.per_sample is not None
    ax.plot(t, np.asarray(gate.schedule(t)), ls="--" if dashed else "-",
            lw=1.6, label=f"{gate_text(gate)}" + (" × mask" if dashed else "")
            + ": " + ", ".join(names))
  ax.set_xlabel("training progress t = k / k_end")
  ax.set_ylabel("gate weight")
  ax.set_ylim(-0.05, 1.1)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
  ax.set_title("gate schedules", fontsize=11)
  return _save(fig, path)


def draw_curves(spec: GraphSpec, history: list, path: str) -> str:
  """Per-node accuracy on the eval split and training loss, per epoch.

  A run evaluated once (``eval_every_epochs=0``, or one epoch) has no
  accuracy curve: its accuracy panel is one bar per node instead."""
  return _save(curves_figure(spec, history), path)


def curves_figure(spec: GraphSpec, history: list):
  """``draw_curves``' figure, not saved."""
  epochs = [m["epoch"] for m in history]
  acc = np.asarray([m["accuracy"] for m in history], np.float64)
  loss = np.asarray([m["train_loss"] for m in history])
  split = history[0].get("eval_split", "eval")
  evaluated = np.isfinite(acc).all(axis=1)  # epochs with an evaluation
  fig, (ax_acc, ax_loss) = figures.subplots(1, 2, figsize=(10, 4))
  labels = [f"{i}: {node.model or node.kind}" + (
      " (target)" if i == spec.target else "") for i, node in enumerate(spec.nodes)]
  for i, label in enumerate(labels):
    bold = dict(lw=2.6) if i == spec.target else dict(lw=1.3)
    if evaluated.sum() > 1:
      ax_acc.plot(np.asarray(epochs)[evaluated], 100 * acc[evaluated, i],
                  marker="o", ms=3, label=label, **bold)
    ax_loss.plot(epochs, loss[:, i], marker="o", ms=3, label=label, **bold)
  if evaluated.sum() <= 1:  # one final evaluation: a bar per node
    last = acc[evaluated][-1] if evaluated.any() else np.full(len(labels), np.nan)
    bars = ax_acc.bar(range(len(labels)), 100 * np.nan_to_num(last),
                      color=["#f4a261" if i == spec.target else "#a8dadc"
                             for i in range(len(labels))], edgecolor="black")
    ax_acc.bar_label(bars, labels=[f"{100 * a:.2f}" for a in last], fontsize=8)
    ax_acc.set_xticks(range(len(labels)), labels, fontsize=8, rotation=15)
    ax_acc.set_ylabel(f"{split} accuracy (%), after epoch "
                      f"{np.asarray(epochs)[evaluated][-1] if evaluated.any() else '-'}")
    ax_acc.grid(alpha=0.3, axis="y")
  else:
    ax_acc.set_ylabel(f"{split} accuracy (%)")
    ax_acc.set_xlabel("epoch")
    ax_acc.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8)
  ax_loss.set_ylabel("training loss (gated sum)")
  ax_loss.set_xlabel("epoch")
  ax_loss.xaxis.get_major_locator().set_params(integer=True)
  ax_loss.grid(alpha=0.3)
  ax_loss.legend(fontsize=8)
  fig.suptitle("accuracy and loss per node", fontsize=11)
  return fig


def write_run_pictures(spec: GraphSpec, history: list, workdir: str) -> list:
  """graph.png, gates.png and curves.png beside a run; returns their paths."""
  return [draw_graph(spec, os.path.join(workdir, "graph.png")),
          draw_gates(spec, os.path.join(workdir, "gates.png")),
          draw_curves(spec, history, os.path.join(workdir, "curves.png"))]


def _save(fig, path: str) -> str:
  return figures.save(fig, path, dpi=110)
