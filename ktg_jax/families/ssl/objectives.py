"""The seven self-supervised learners of paper 000 as pure loss functions.

Each method's own objective (docs/papers.md §2 "Self-supervised edges", §5 (000)) is a
small pure function of the embeddings of two augmented views ``a`` and ``b``
of one batch (and, for MoCo and DINO, of its extra state: the key queue, the
teacher centre). Everything is a batch-mean scalar: these are a node's own
loss, not per-sample edge losses (those live in ``ktg_jax.families.ssl.edges``).

Stop-gradients that belong to the *method* (SimSiam's target branch, BYOL's
and MoCo's momentum targets, SwAV's codes, DINO's teacher) are applied inside
the functions, so a caller cannot forget them.

``OBJECTIVES`` is the registry a core node kind is built from: per method the
uniform adapter ``fn(online, target, state, **hparams) -> (loss, state)``
(``online`` / ``target`` = ``(view_a, view_b)`` dicts of head outputs keyed by
``PROJECTION`` / ``PREDICTION`` / ``SCORES``; ``target`` is the momentum
encoder's outputs where the method has one, else the online outputs again),
the published defaults, the heads it needs, whether it has a momentum encoder,
its momentum schedule and its state initialiser.

Example:
  >>> import jax
  >>> za, zb = jax.random.normal(jax.random.key(0), (2, 6, 5))
  >>> float(barlow_twins(za, za)) < float(barlow_twins(za, zb))  # views agree
  True
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

PROJECTION, PREDICTION, SCORES = "projection", "prediction", "prototype_scores"
_sg = jax.lax.stop_gradient


def l2_normalize(x, eps: float = 1e-12):
  """``x / max(||x||, eps)`` over the last axis (torch ``F.normalize``)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


def _cosine(x, y):
  return jnp.sum(l2_normalize(x) * l2_normalize(y), axis=-1)


# --- contrastive ------------------------------------------------------------

def nt_xent(z_a, z_b, temperature: float = 0.5):
  """SimCLR NT-Xent (Chen et al. 2020, eq. 1), mean over the 2B anchors.

  With ``z = normalize([z_a; z_b])`` and ``s_ij = z_i . z_j / T``:
  ``l_i = -log exp(s_{i,pos(i)}) / sum_{j != i} exp(s_ij)``, ``pos(i) = i +- B``.
  Default ``T = 0.5``: SimCLR appendix B.9 (CIFAR-10) and DoGo's config.
  """
  z = l2_normalize(jnp.concatenate([z_a, z_b], axis=0))
  n = z.shape[0]
  logits = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, z @ z.T / temperature)
  positive = (jnp.arange(n) + n // 2) % n
  logp = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(logp, positive[:, None], axis=-1))


class MocoQueue(NamedTuple):
  """MoCo's dictionary: ``keys`` float[K, D] (L2-normalised) and the ring position."""
  keys: jax.Array
  ptr: jax.Array  # int32 scalar: where the next batch of keys is written


def moco_queue_init(rng, size: int, dim: int) -> MocoQueue:
  """Random unit keys, as MoCo's ``randn`` + normalise initialisation."""
  return MocoQueue(l2_normalize(jax.random.normal(rng, (size, dim))),
                   jnp.zeros((), jnp.int32))


def moco_enqueue(queue: MocoQueue, keys) -> MocoQueue:
  """Dequeue the oldest ``B`` keys and enqueue ``keys`` (a pure ring buffer).

  ``keys[i]`` goes to row ``(ptr + i) mod K``; ``ptr`` advances by ``B`` mod K
  (MoCo's ``_dequeue_and_enqueue``; wrapping replaces its ``K % B == 0`` assert).
  """
  size = queue.keys.shape[0]
  rows = (queue.ptr + jnp.arange(keys.shape[0])) % size
  return MocoQueue(queue.keys.at[rows].set(_sg(keys).astype(queue.keys.dtype)),
                   ((queue.ptr + keys.shape[0]) % size).astype(jnp.int32))


def moco_v2(q, k, queue: MocoQueue, temperature: float = 0.2):
  """MoCo v2 InfoNCE (He et al. 2020 eq. 1; Chen et al. 2020 "MoCo v2").

  ``L = -log exp(q.k+ / T) / (exp(q.k+ / T) + sum_{k- in queue} exp(q.k- / T))``
  with ``q`` the query view's projection, ``k`` the key view's momentum-encoder
  projection (both normalised, ``k`` stop-gradient). Returns ``(loss, queue')``
  with this batch's keys enqueued (the queue used for the loss is the old one).
  Defaults: ``T = 0.2`` (MoCo v2), queue ``K = 65536``, ``m = 0.999`` (MoCo).
  """
  q, k = l2_normalize(q), _sg(l2_normalize(k))
  l_pos = jnp.sum(q * k, axis=-1, keepdims=True)
  l_neg = q @ _sg(queue.keys).T
  logp = jax.nn.log_softmax(jnp.concatenate([l_pos, l_neg], -1) / temperature)
  return -jnp.mean(logp[:, 0]), moco_enqueue(queue, k)


# --- predictive / redundancy reduction ---------------------------------------

def simsiam(p_a, p_b, z_a, z_b):
  """SimSiam (Chen & He 2021, eq. 3-4): ``D(p_a, sg(z_b))/2 + D(p_b, sg(z_a))/2``,
  ``D(p, z) = -cos(p, z)``; ``p`` predictor outputs, ``z`` projector outputs."""
  return -0.5 * jnp.mean(_cosine(p_a, _sg(z_b)) + _cosine(p_b, _sg(z_a)))


def byol(p_a, p_b, t_a, t_b):
  """BYOL (Grill et al. 2020, eq. 2): ``||q_a/|q_a| - t_b/|t_b|||^2 = 2 - 2 cos``,
  symmetrised as published, ``L + L~`` (a sum, so in [0, 8]); ``p`` = online
  predictions, ``t`` = momentum-target projections (stop-gradient)."""
  return jnp.mean((2.0 - 2.0 * _cosine(p_a, _sg(t_b)))
                  + (2.0 - 2.0 * _cosine(p_b, _sg(t_a))))


def barlow_twins(z_a, z_b, lambd: float = 5e-3, eps: float = 1e-5,
                 scale_loss: float = 1.0):
  """Barlow Twins (Zbontar et al. 2021, eq. 1-2), times ``scale_loss``.

  ``C = za_n^T zb_n / B`` with each embedding dimension standardised over the
  batch (BatchNorm without affine: biased variance, ``eps = 1e-5``);
  ``L = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2``. ``lambda = 5e-3``
  is the paper's (§ implementation details; the official repo rounds to
  0.0051). ``scale_loss``: solo-learn's factor on the whole loss (0.1 in its
  CIFAR config; 1 = the paper). Under SGD it is the learner's own lr factor,
  which an ssl node in a graph with others (one optimiser) needs.
  """
  def standardise(z):
    mu = jnp.mean(z, axis=0)
    return (z - mu) / jnp.sqrt(jnp.mean((z - mu) ** 2, axis=0) + eps)
  c = standardise(z_a).T @ standardise(z_b) / z_a.shape[0]
  on = jnp.diagonal(c)
  return scale_loss * (jnp.sum((1.0 - on) ** 2)
                       + lambd * (jnp.sum(c ** 2) - jnp.sum(on ** 2)))


# --- clustering / self-distillation ------------------------------------------

def sinkhorn(scores, epsilon: float = 0.05, iterations: int = 3):
  """SwAV's Sinkhorn-Knopp codes (Caron et al. 2020, §3.1 and Alg. 1).

  ``Q = exp(scores / eps)^T`` [K, B] normalised to total 1, then ``iterations``
  times: rows (prototypes) to sum ``1/K``, columns (samples) to sum ``1/B``;
  finally ``* B``, so each **sample's code sums to 1** exactly and each
  prototype receives ``B/K`` (exactly only in the limit of iterations).
  ``eps = 0.05``, 3 iterations: the paper's defaults. No gradient flows.
  """
  scores = _sg(scores)
  batch, k = scores.shape
  # Subtracting the max is exact here (Q is renormalised) and avoids overflow.
  q = jnp.exp((scores - jnp.max(scores)) / epsilon).T
  q = q / jnp.sum(q)

  def body(_, q):
    q = q / jnp.sum(q, axis=1, keepdims=True) / k
    return q / jnp.sum(q, axis=0, keepdims=True) / batch
  return (jax.lax.fori_loop(0, iterations, body, q) * batch).T


def swav(scores_a, scores_b, temperature: float = 0.1, epsilon: float = 0.05,
         iterations: int = 3):
  """SwAV swapped prediction (Caron et al. 2020, eq. 1-2), two views.

  ``scores`` = normalised embeddings times normalised prototypes, [B, K];
  ``L = -1/2 mean_n [ q_a . log softmax(s_b / T) + q_b . log softmax(s_a / T) ]``
  with ``q = sinkhorn(s)`` (stop-gradient). ``T = 0.1`` (paper). The feature
  queue SwAV adds for small batches is not part of this function.
  """
  q_a = sinkhorn(scores_a, epsilon, iterations)
  q_b = sinkhorn(scores_b, epsilon, iterations)
  ce = lambda q, s: -jnp.sum(q * jax.nn.log_softmax(s / temperature, -1), -1)
  return 0.5 * jnp.mean(ce(q_a, scores_b) + ce(q_b, scores_a))


def dino(s_a, s_b, t_a, t_b, center, student_temperature: float = 0.1,
         teacher_temperature: float = 0.04):
  """DINO (Caron et al. 2021, eq. 1 and §3.1), two global views.

  ``P_t = softmax((t - c) / T_t)`` (centred, sharpened, stop-gradient),
  ``L = 1/2 [H(P_t(t_a), P_s(s_b)) + H(P_t(t_b), P_s(s_a))]``,
  ``H(p, q) = -sum p log q``, ``P_s = softmax(s / T_s)``. Defaults from the
  official ``main_dino.py``: ``T_s = 0.1``, ``T_t = 0.04`` (warm-up 0).
  """
  def h(t, s):
    p_t = jax.nn.softmax(_sg(t - center) / teacher_temperature, axis=-1)
    return -jnp.sum(p_t * jax.nn.log_softmax(s / student_temperature, -1), -1)
  return 0.5 * jnp.mean(h(t_a, s_b) + h(t_b, s_a))


def dino_center_update(center, t_a, t_b, momentum: float = 0.9):
  """``c <- m c + (1 - m) mean_batch(teacher outputs of both views)``, m = 0.9
  (DINO eq. 4, ``center_momentum`` of the official code)."""
  batch_mean = jnp.mean(jnp.concatenate([t_a, t_b], axis=0), axis=0)
  return momentum * center + (1.0 - momentum) * _sg(batch_mean)


# --- momentum schedules: (step, total) -> momentum ----------------------------

def cosine_momentum(base: float, final: float = 1.0) -> Callable:
  """BYOL §3.2: ``tau = final - (final - base) (cos(pi k / K) + 1) / 2``; tau =
  base at k = 0 and final at k = K. (DINO's ``cosine_scheduler`` is the same
  curve but stops one step short of ``final``.)"""
  def schedule(step, total):
    t = jnp.clip(jnp.asarray(step, jnp.float32) / total, 0.0, 1.0)
    return final - (final - base) * (jnp.cos(jnp.pi * t) + 1.0) / 2.0
  return schedule


def constant_momentum(value: float) -> Callable:
  """MoCo's constant key-encoder momentum (``m = 0.999``, He et al. 2020 §3.2)."""
  return lambda step, total: jnp.full((), value, jnp.float32)


# --- the registry -------------------------------------------------------------

def _simclr(online, target, state, temperature):
  del target
  return nt_xent(online[0][PROJECTION], online[1][PROJECTION], temperature), state


def _simsiam(online, target, state):
  del target
  (a, b) = online
  return simsiam(a[PREDICTION], b[PREDICTION], a[PROJECTION], b[PROJECTION]), state


def _moco(online, target, state, temperature):
  return moco_v2(online[0][PROJECTION], target[1][PROJECTION], state, temperature)


def _byol(online, target, state):
  return byol(online[0][PREDICTION], online[1][PREDICTION],
              target[0][PROJECTION], target[1][PROJECTION]), state


def _barlow(online, target, state, lambd, scale_loss):
  del target
  return barlow_twins(online[0][PROJECTION], online[1][PROJECTION], lambd,
                      scale_loss=scale_loss), state


def _swav(online, target, state, temperature, epsilon, iterations):
  del target
  return swav(online[0][SCORES], online[1][SCORES], temperature, epsilon,
              iterations), state


def _dino(online, target, center, student_temperature, teacher_temperature,
          center_momentum):
  s_a, s_b = online[0][SCORES], online[1][SCORES]
  t_a, t_b = target[0][SCORES], target[1][SCORES]
  loss = dino(s_a, s_b, t_a, t_b, center, student_temperature,
              teacher_temperature)
  return loss, dino_center_update(center, t_a, t_b, center_momentum)


def _no_state(rng, dim, **hparams):
  del rng, dim, hparams
  return ()


def _moco_state(rng, dim, queue_size, **hparams):
  del hparams
  return moco_queue_init(rng, queue_size, dim)


def _dino_state(rng, dim, **hparams):
  del rng, hparams
  return jnp.zeros((dim,), jnp.float32)


class Objective(NamedTuple):
  """One SSL learner: what a core node kind needs to build and train it."""
  name: str
  fn: Callable            # (online, target, state, **defaults) -> (loss, state)
  defaults: dict          # published hyper-parameters (see each function)
  heads: tuple            # of "projector", "predictor", "prototypes"
  momentum_encoder: bool  # target = EMA of the online network
  momentum: Callable | None  # base -> ((step, total) -> EMA coefficient); the
                             # base is ``defaults["momentum"]``
  init_state: Callable    # (rng, dim, **defaults) -> state; dim = SCORES or
                          # PROJECTION width


OBJECTIVES: tuple[Objective, ...] = (
    Objective("simclr", _simclr, {"temperature": 0.5}, ("projector",), False,
              None, _no_state),
    Objective("simsiam", _simsiam, {}, ("projector", "predictor"), False, None,
              _no_state),
    Objective("moco", _moco, {"temperature": 0.2, "queue_size": 65536,
                              "momentum": 0.999},
              ("projector",), True, constant_momentum, _moco_state),
    Objective("byol", _byol, {"momentum": 0.996}, ("projector", "predictor"),
              True, cosine_momentum, _no_state),  # BYOL §3.2: tau_base 0.996
    Objective("barlow_twins", _barlow, {"lambd": 5e-3, "scale_loss": 1.0},
              ("projector",), False,
              None, _no_state),
    Objective("swav", _swav,
              {"temperature": 0.1, "epsilon": 0.05, "iterations": 3},
              ("projector", "prototypes"), False, None, _no_state),
    Objective("dino", _dino,
              {"student_temperature": 0.1, "teacher_temperature": 0.04,
               "center_momentum": 0.9, "momentum": 0.996},
              ("projector", "prototypes"), True, cosine_momentum,
              _dino_state),  # main_dino.py: momentum_teacher 0.996 -> 1
)
BY_NAME = {o.name: o for o in OBJECTIVES}
# defaults that configure a learner's state or momentum encoder, not its loss
ENCODER_PARAMS = ("queue_size", "momentum")


def get(name: str) -> Objective:
  """The registry row of ``name``; ValueError naming the allowed ones."""
  if name not in BY_NAME:
    raise ValueError(f"objective={name!r}; allowed: {sorted(BY_NAME)}")
  return BY_NAME[name]


def loss_and_state(name: str, online, target, state, **overrides):
  """Runs objective ``name`` with its defaults updated by ``overrides``."""
  objective = get(name)
  unknown = set(overrides) - set(objective.defaults)
  if unknown:
    raise ValueError(f"hyper-parameters {sorted(unknown)} of {name!r}; "
                     f"allowed: {sorted(objective.defaults)}")
  hp = {**objective.defaults, **overrides}
  for key in ENCODER_PARAMS:  # they shape the state / momentum encoder, not the loss
    hp.pop(key, None)
  return objective.fn(online, target, state, **hp)


def momentum_schedule(name: str, **overrides) -> Callable:
  """``(step, total) -> m_k`` of objective ``name``'s momentum encoder, its
  base ``overrides.get("momentum", defaults["momentum"])``.

  >>> round(float(momentum_schedule("byol", momentum=0.99)(0, 100)), 6)
  0.99
  """
  objective = get(name)
  if objective.momentum is None:
    raise ValueError(f"objective {name!r} has no momentum encoder; allowed: "
                     f"{sorted(o.name for o in OBJECTIVES if o.momentum)}")
  return objective.momentum(overrides.get("momentum",
                                          objective.defaults["momentum"]))


__all__ = ["BY_NAME", "ENCODER_PARAMS", "MocoQueue", "OBJECTIVES", "Objective", "PREDICTION",
           "PROJECTION", "SCORES", "barlow_twins", "byol", "constant_momentum",
           "cosine_momentum", "dino", "dino_center_update", "get",
           "l2_normalize", "loss_and_state", "momentum_schedule", "moco_enqueue", "moco_queue_init",
           "moco_v2", "nt_xent", "simsiam", "sinkhorn", "swav"]
