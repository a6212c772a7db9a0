"""Classic collaborative-learning methods written as KTG graphs (SPEC §1)."""

from __future__ import annotations

from typing import Sequence

from ktg_jax import gates
from ktg_jax.graph import LABEL, Edge, GraphSpec, Node


def vanilla(model: str = "resnet32") -> GraphSpec:
  """One node trained with labels only."""
  return GraphSpec(nodes=(Node(model),), edges={(LABEL, 0): gates.Through()})


def dml(models: Sequence[str] | int = 2, model: str = "resnet32") -> GraphSpec:
  """Deep Mutual Learning: label edges and every node edge Through (KL)."""
  names = [model] * models if isinstance(models, int) else list(models)
  edges = {(LABEL, t): gates.Through() for t in range(len(names))}
  edges.update({(s, t): gates.Through() for s in range(len(names))
                for t in range(len(names)) if s != t})
  return GraphSpec(nodes=tuple(Node(m) for m in names), edges=edges)


def kd(student: str, teacher: str, teacher_checkpoint: str,
       temperature: float = 2.0) -> GraphSpec:
  """Hinton KD: label CE + T^2 KL from a frozen, label-trained teacher."""
  return GraphSpec(
      nodes=(Node(student), Node(teacher, teacher_checkpoint)),
      edges={(LABEL, 0): gates.Through(),
             (1, 0): Edge(gates.Through(), "kd", temperature)})


BUILDERS = {"vanilla": vanilla, "dml": dml, "kd": kd}
