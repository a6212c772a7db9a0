"""An SSL learner's network: a backbone of ``ktg_jax.models`` plus the heads of
its method (projector, predictor, prototypes), as one flax module.

``ssl_model(backbone, learner)`` returns a module whose outputs are

* ``features``: the backbone's embedding (before any head; KNN reads these),
* ``projection``: ``z = projector(features)``, a 2-layer MLP
  ``Dense(hidden) -> BN -> ReLU -> Dense(proj_dim)`` (SimCLR v2 / BYOL shape;
  SimSiam's and Barlow Twins' 3-layer projectors are shortened to this one
  shape for every learner, so DoGo / DisCo edges compare like embeddings),
* ``prediction``: ``predictor(z)``, the same MLP shape (SimSiam, BYOL),
* ``prototype_scores``: ``unit(z) . unit(c_k)`` for K learnt prototypes
  (SwAV's scores; DINO's weight-normalised last layer on the L2-normalised
  bottleneck, with its norm fixed to 1, is the same map),
* ``logits``: zeros ``[B, num_classes]``. An SSL node has no classifier and
  sees no label; the zeros keep the core's per-node accuracy metric defined
  (it reads chance) — an SSL graph is scored by KNN (``ktg_jax.metrics.node_knn``).

Widths are CPU-sized defaults, not the papers' (SimCLR 2048 -> 128, SwAV 3000
prototypes, DINO 65,536): ``hidden 256``, ``proj_dim 128``, ``K = 100``.

Example:
  >>> import jax, jax.numpy as jnp
  >>> m = ssl_model("small_cnn", "byol", num_classes=10)
  >>> x = jnp.zeros((4, 8, 8, 1))
  >>> v = m.init(jax.random.key(0), x, train=False)
  >>> sorted(m.apply(v, x, train=False))
  ['features', 'logits', 'prediction', 'projection']
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from ktg_jax import models as models_lib
from ktg_jax.models.resnet import batch_norm
from ktg_jax.families.ssl import objectives

HIDDEN_DIM = 256
PROJ_DIM = 128
NUM_PROTOTYPES = 100

# head name -> the outputs it adds
HEAD_OUTPUTS = {"projector": (objectives.PROJECTION,),
                "predictor": (objectives.PREDICTION,),
                "prototypes": (objectives.SCORES,)}


class MLP(nn.Module):
  hidden: int
  out: int

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Dense(self.hidden, name="fc1")(x)
    x = nn.relu(batch_norm(train, "bn")(x))
    return nn.Dense(self.out, name="fc2")(x)


class SSLModel(nn.Module):
  """``backbone`` (a ktg_jax model name) + the heads of ``learner``."""
  backbone: str
  learner: str
  num_classes: int
  hidden_dim: int = HIDDEN_DIM
  proj_dim: int = PROJ_DIM
  num_prototypes: int = NUM_PROTOTYPES

  @nn.compact
  def __call__(self, x, train: bool = True):
    heads = objectives.get(self.learner).heads
    out = models_lib.create(self.backbone, self.num_classes,
                            module_name="backbone")(x, train=train)
    h = out["features"]
    z = MLP(self.hidden_dim, self.proj_dim, name="projector")(h, train)
    res = {"features": h, objectives.PROJECTION: z,
           "logits": jnp.zeros(h.shape[:-1] + (self.num_classes,), h.dtype)}
    if "predictor" in heads:
      res[objectives.PREDICTION] = MLP(self.hidden_dim, self.proj_dim,
                                       name="predictor")(z, train)
    if "prototypes" in heads:
      c = self.param("prototypes", nn.initializers.normal(1.0),
                     (self.num_prototypes, self.proj_dim))
      res[objectives.SCORES] = (objectives.l2_normalize(z)
                                @ objectives.l2_normalize(c).T)
    return res


def ssl_model(backbone: str, learner: str, num_classes: int,
              **widths) -> SSLModel:
  """The network of an SSL node; ValueErrors name a bad backbone / learner.
  ``widths``: ``hidden_dim``, ``proj_dim``, ``num_prototypes`` (defaults
  ``HIDDEN_DIM``, ``PROJ_DIM``, ``NUM_PROTOTYPES``)."""
  objectives.get(learner)
  if not models_lib.exists(backbone):
    raise ValueError(f"backbone={backbone!r} is unknown; allowed: "
                     f"{models_lib.names()}")
  if "features" not in models_lib.outputs(backbone):
    raise ValueError(f"backbone={backbone!r} has no 'features' output; "
                     "allowed: a ResNet, WRN or small_cnn")
  return SSLModel(backbone, learner, num_classes, **widths)


def outputs(learner: str) -> tuple[str, ...]:
  """The output names of an SSL node of ``learner`` (static)."""
  heads = objectives.get(learner).heads
  return ("logits", "features") + tuple(o for h in heads
                                        for o in HEAD_OUTPUTS[h])


__all__ = ["HEAD_OUTPUTS", "MLP", "SSLModel", "outputs", "ssl_model"]
