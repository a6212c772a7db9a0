"""The optimizers of the published protocols (SPEC §5) as optax chains."""

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


def step_decay(base: float, steps_per_epoch: int, boundaries_epochs,
               factor: float = 0.1) -> optax.Schedule:
  """lr x factor at each epoch in ``boundaries_epochs`` (ch.3: /10 every 60)."""
  return optax.piecewise_constant_schedule(
      base, {int(e * steps_per_epoch): factor for e in boundaries_epochs})


def cosine(base: float, total_steps: int) -> optax.Schedule:
  """Half-cosine to 0 over training (003)."""
  return optax.cosine_decay_schedule(base, total_steps)
