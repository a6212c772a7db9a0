"""Classic collaborative and semi-supervised methods written as KTG graphs
(docs/papers.md §1). ``tests/test_classic_methods.py`` proves each equal to a direct,
hand-written implementation of the method.

Semi-supervised graphs name their views (``compile(..., views={...})`` gives
the functions) and act on the batch's unlabelled images
(``batch["unlabeled_image"]``).

Example:
  >>> spec = fixmatch("small_cnn")
  >>> spec.edges[(0, 0)].loss, spec.edges[(0, 0)].gate
  ('pseudo_label', Threshold(tau=0.95))
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ktg_jax.core import gates
from ktg_jax.core import LABEL, Edge, GraphSpec, Node
from ktg_jax.families.ensemble import attention_losses as losses_attention


def vanilla(model: str = "resnet32") -> GraphSpec:
  """One node trained with labels only.

  >>> spec = vanilla("small_cnn")
  >>> spec.num_nodes, list(spec.edges)
  (1, [('label', 0)])
  """
  return GraphSpec(nodes=(Node(model),), edges={(LABEL, 0): gates.Through()})


def dml(models: Sequence[str] | int = 2, model: str = "resnet32") -> GraphSpec:
  """Deep Mutual Learning: label edges and every node edge Through (KL).

  >>> spec = dml(["small_cnn", "resnet20"])
  >>> [n.model for n in spec.nodes], sorted(k for k in spec.edges if k[0] != "label")
  (['small_cnn', 'resnet20'], [(0, 1), (1, 0)])
  """
  names = [model] * models if isinstance(models, int) else list(models)
  edges = {(LABEL, t): gates.Through() for t in range(len(names))}
  edges.update({(s, t): gates.Through() for s in range(len(names))
                for t in range(len(names)) if s != t})
  return GraphSpec(nodes=tuple(Node(m) for m in names), edges=edges)


def kd(student: str, teacher: str, teacher_checkpoint: str,
       temperature: float = 2.0) -> GraphSpec:
  """Hinton KD: label CE + T^2 KL from a frozen, label-trained teacher.

  >>> spec = kd("small_cnn", "resnet20", "runs/teacher/variables/node0")
  >>> spec.node_kinds(), spec.edges[(1, 0)].loss, spec.edges[(1, 0)].loss_param
  (('trainable', 'frozen'), 'kd', 2.0)
  """
  return GraphSpec(
      nodes=(Node(student), Node(teacher, teacher_checkpoint)),
      edges={(LABEL, 0): gates.Through(),
             (1, 0): Edge(gates.Through(), "kd", temperature)})


def ensemble(models: Sequence[str] | int = 2, model: str = "resnet32",
             mutual: bool = False) -> GraphSpec:
  """Members trained on labels (``mutual``: and DML edges) plus an ensemble
  node, the target: logits = mean of the members' logits (thesis eq 4.10)."""
  names = [model] * models if isinstance(models, int) else list(models)
  m = len(names)
  edges = {(LABEL, t): gates.Through() for t in range(m)}
  if mutual:
    edges.update({(s, t): gates.Through() for s in range(m) for t in range(m)
                  if s != t})
  nodes = tuple(Node(n) for n in names)
  return GraphSpec(nodes=nodes + (Node(kind="ensemble",
                                       members=tuple(range(m))),),
                   edges=edges, target=m)


COMPRESSION_SOURCES = ("ensemble", "each")


def compression(student: str, teachers: Sequence[str],
                checkpoints: Sequence[str], source: str = "each",
                temperature: float = 2.0, attention: bool = False,
                label: bool = True,
                crop_sizes: Sequence[int] | None = None) -> GraphSpec:
  """Ensemble compression (thesis §4.3.3, Table 4.9): a student learns from
  frozen, trained teachers.

  ``source="ensemble"``: one KD edge from an ensemble node of the teachers
  (the ensembled distribution, eq 4.10's mean logits); ``"each"``: one edge
  from every teacher (``attention``: KD + the attention-crop MSE,
  ``kd_att_mse[_abn]`` by the teacher's family). KD is ``T^2 KL`` at
  ``temperature`` (the thesis's CE to the softened teacher distribution has
  the same gradient up to the factor T^2). Node 0 is the student, nodes
  1..K the teachers, the target the student; ``label``: a label edge
  Through. Gradient aggregation is ``compile(..., aggregate="pcgrad")``.
  ``crop_sizes``: the attention crops instead of the teacher family's
  (``attention_losses.sized_kind``: maps smaller than thesis §4.4.1's sizes).
  """
  if source not in COMPRESSION_SOURCES:
    raise ValueError(f"source={source!r}; allowed: {list(COMPRESSION_SOURCES)}")
  if len(teachers) != len(checkpoints) or len(teachers) < 1:
    raise ValueError(f"teachers={list(teachers)}, checkpoints="
                     f"{list(checkpoints)}; allowed: one checkpoint a teacher")
  if source == "ensemble" and (attention or len(teachers) < 2):
    raise ValueError("source='ensemble' takes two or more teachers and "
                     "attention=False (an ensemble node has logits only)")
  if crop_sizes and not attention:
    raise ValueError(f"crop_sizes={crop_sizes!r} with attention=False; "
                     "allowed: crop sizes only for attention edges")
  nodes = [Node(student)] + [Node(t, c, kind="frozen")
                             for t, c in zip(teachers, checkpoints)]
  edges = {(LABEL, 0): gates.Through()} if label else {}
  if source == "ensemble":
    nodes.append(Node(kind="ensemble", members=tuple(range(1, len(nodes)))))
    edges[(len(nodes) - 1, 0)] = Edge(gates.Through(), "kd", temperature)
  else:
    for i, t in enumerate(teachers, start=1):
      if not attention:
        loss = "kd"
      elif crop_sizes:
        loss = losses_attention.sized_kind("kd_att_mse", crop_sizes)
      else:
        loss = "kd_att_mse" + losses_attention.FAMILIES[
            losses_attention.family(t)]
      edges[(i, 0)] = Edge(gates.Through(), loss, temperature)
  return GraphSpec(nodes=tuple(nodes), edges=edges, target=0)


def pi_model(model: str, weight: float = 1.0,
             gate: gates.Gate = gates.Through(),
             views: tuple[str, str] = ("a", "b")) -> GraphSpec:
  """Pi-model (Laine & Aila 2017): label CE on view a + a self-loop MSE
  consistency from the node on view b (source, no gradient) to view a, on
  all samples."""
  a, b = views
  return GraphSpec(nodes=(Node(model),), edges={
      (LABEL, 0): Edge(gates.Through(), target_view=a),
      (0, 0): Edge(gate, "consistency_mse", weight, source_view=b,
                   target_view=a)})


def mean_teacher(model: str, weight: float = 1.0, decay: float = 0.999,
                 gate: gates.Gate = gates.Through(),
                 views: tuple[str, str] = ("a", "b"),
                 bn: str = "batch") -> GraphSpec:
  """Mean Teacher (Tarvainen & Valpola 2017): node 1 is the EMA of node 0;
  MSE consistency from the teacher on view b to the student on view a.
  ``bn``: the teacher's BatchNorm statistics (``ktg_jax.core.nodes``)."""
  a, b = views
  return GraphSpec(nodes=(Node(model), Node(kind="ema", of=0, decay=decay,
                                            bn=bn)),
                   edges={(LABEL, 0): Edge(gates.Through(), target_view=a),
                          (1, 0): Edge(gate, "consistency_mse", weight,
                                       source_view=b, target_view=a)})


def pseudo_label(model: str, weight: float = 1.0,
                 gate: gates.Gate = gates.Through()) -> GraphSpec:
  """Pseudo-Label (Lee 2013): CE to the node's own argmax on unlabelled
  samples (a self-loop on one view)."""
  return GraphSpec(nodes=(Node(model),), edges={
      (LABEL, 0): gates.Through(),
      (0, 0): Edge(gate, "pseudo_label", weight, samples="unlabeled")})


def fixmatch(model: str, tau: float = 0.95, weight: float = 1.0) -> GraphSpec:
  """FixMatch (Sohn et al. 2020): label CE on the weak view + a self-loop from
  the weak view to the strong one: CE to the weak argmax where its max
  probability exceeds tau (a Threshold gate), averaged over all unlabelled
  samples (docs/papers.md §2)."""
  return GraphSpec(nodes=(Node(model),), edges={
      (LABEL, 0): Edge(gates.Through(), target_view="weak"),
      (0, 0): Edge(gates.Threshold(tau), "pseudo_label", weight,
                   source_view="weak", target_view="strong",
                   samples="unlabeled")})


def with_ema_target(spec: GraphSpec, decay: float = 0.999,
                    bn: str = "batch") -> GraphSpec:
  """The same graph scored by an EMA of its target (FixMatch reports its EMA
  model): the target becomes an EMA node of the old target already in the
  graph (Mean Teacher's teacher), else a new one with no edges.

  Example:
    >>> with_ema_target(fixmatch("small_cnn"), 0.99).nodes[1].kind
    'ema'
  """
  for i, n in enumerate(spec.nodes):
    if n.of == spec.target:  # an EMA node of the target
      return dataclasses.replace(spec, target=i)
  ema = Node(spec.nodes[spec.target].model, kind="ema", of=spec.target,
             decay=decay, bn=bn)
  return dataclasses.replace(spec, nodes=tuple(spec.nodes) + (ema,),
                             target=len(spec.nodes))


def ssl(model: str = "resnet20", learner: str = "simclr") -> GraphSpec:
  """One self-supervised learner (000 Table 2 "Vanilla"): an ssl node whose
  own objective (views a, b) is its only, Through-gated, term.

  Example:
    >>> ssl("small_cnn").nodes[0].learner, ssl("small_cnn").edges[(LABEL, 0)].target_view
    ('simclr', 'a')
  """
  return GraphSpec(nodes=(Node(model, kind="ssl", learner=learner),),
                   edges={(LABEL, 0): gates.Through()})


def ssl_dml(models: Sequence[str] = ("resnet20", "resnet32"),
            learners: Sequence[str] = ("simclr", "simclr"),
            loss: str = "dogo") -> GraphSpec:
  """Mutual learning of ssl nodes (000 Table 2 "DML", as DoGo trains its
  pair): own terms and every node edge (``loss``: dogo or disco) Through."""
  edges = {(LABEL, t): gates.Through() for t in range(len(models))}
  edges.update({(s, t): Edge(gates.Through(), loss) for s in range(len(models))
                for t in range(len(models)) if s != t})
  return GraphSpec(nodes=tuple(Node(m, kind="ssl", learner=l)
                               for m, l in zip(models, learners)), edges=edges)


BUILDERS = {"vanilla": vanilla, "dml": dml, "kd": kd, "ensemble": ensemble,
            "compression": compression,
            "pi_model": pi_model, "mean_teacher": mean_teacher,
            "pseudo_label": pseudo_label, "fixmatch": fixmatch,
            "ssl": ssl, "ssl_dml": ssl_dml}
