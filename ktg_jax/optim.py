"""The optimizers of the published protocols (docs/papers.md §5) as optax chains."""

from __future__ import annotations

import optax


def sgd(learning_rate, *, momentum: float = 0.9, nesterov: bool = True,
        weight_decay: float = 5e-4) -> optax.GradientTransformation:
  """PyTorch-style SGD: weight decay added to the gradient before momentum.

  ``learning_rate``: a float or an optax schedule of the step.
  """
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.sgd(learning_rate, momentum=momentum,
                               nesterov=nesterov))


def step_decay(base: float, total_steps: int, boundaries,
               factor: float = 0.1) -> optax.Schedule:
  """lr x factor at each fraction of the run in ``boundaries``.

  Fractions, not epochs, so a shortened run (a 20-epoch search trial) decays
  where the full one does: ch.3's /10 at epochs 60, 120, 180 of 200 is
  ``(0.3, 0.6, 0.9)``; ch.4's 150, 225 of 300 is ``(0.5, 0.75)``.

  Example:
    >>> s = step_decay(0.1, 100, (0.3, 0.6))
    >>> [round(float(s(k)), 4) for k in (29, 30, 60)]
    [0.1, 0.01, 0.001]
  """
  bad = [b for b in boundaries if not 0.0 < b < 1.0]
  if bad:
    raise ValueError(f"lr_boundaries={tuple(boundaries)!r}: {bad} not in "
                     "(0, 1); allowed: fractions of the run, e.g. (0.3, 0.6, "
                     "0.9) for epochs 60/120/180 of 200")
  return optax.piecewise_constant_schedule(
      base, {int(round(b * total_steps)): factor for b in boundaries})


def cosine(base: float, total_steps: int) -> optax.Schedule:
  """Half-cosine to 0 over training (003)."""
  return optax.cosine_decay_schedule(base, total_steps)


def warmup_cosine(base: float, total_steps: int,
                  warmup: float = 0.1) -> optax.Schedule:
  """Linear from 0 to ``base`` over the first ``warmup`` fraction of the
  steps, then half-cosine to 0 (SimCLR, Chen et al. 2020 §B.1; solo-learn).

  >>> s = warmup_cosine(1.0, 100, 0.1)
  >>> [round(float(s(k)), 3) for k in (0, 5, 10, 55, 100)]
  [0.0, 0.5, 1.0, 0.5, 0.0]
  """
  if not 0 <= warmup < 1:
    raise ValueError(f"warmup={warmup}; allowed: 0 <= warmup < 1 (a fraction "
                     "of the run)")
  steps = int(round(warmup * total_steps))
  return optax.warmup_cosine_decay_schedule(0.0, base, max(steps, 1),
                                            max(total_steps, steps + 1))
