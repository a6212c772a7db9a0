"""Gates: the weight an edge puts on its per-sample loss (docs/papers.md §3).

A gate is a *schedule of the step* — a scalar function of ``t = k / k_end`` with
``k`` counted in iterations — times an optional *per-sample mask* that looks at
the source's prediction (Correct, Threshold).

Each gate kind is written once, as a small pure function of ``(t, params)``;
the same function serves two views of a gate:

* typed gate objects (``Sine(f=0.5, phi=4.71)``) that a person writes in a spec;
* the array encoding ``(kind id, params[2])`` that lives in the edge table, so a
  compiled step reads gates as *data* and graphs of the same nodes share one
  program (``gate_weights`` evaluates every kind and selects by id).

Example:
  >>> import numpy as np
  >>> g = Sine(f=0.0, phi=np.pi / 2)            # reproduces Through
  >>> float(g.schedule(0.3))
  1.0
  >>> float(PositiveGamma(gamma=1.0).schedule(0.25))   # gamma = 1 is Linear
  0.25
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

NUM_PARAMS = 2  # every gate is encoded with two floats; unused ones are 0.

SINE_F_RANGE = (0.0, 1.0)
SINE_PHI_RANGE = (0.0, 0.75 * 2 * math.pi)
GAMMA_RANGE = (0.01, 100.0)
TAU_RANGE = (0.0, 1.0)
RAMP_RANGE = (0.01, 1.0)  # the share of training a warm-up ramp lasts


# --- schedules: (t, params) -> weight.  t is a scalar in [0, 1]. -------------

def _through(t, p):
  del p
  return jnp.ones_like(t)


def _cutoff(t, p):
  del p
  return jnp.zeros_like(t)


def _linear(t, p):
  """Positive Linear, docs/papers.md §3 / thesis eq 3.6: t, with k counted in iterations."""
  del p
  return t


def _negative_linear(t, p):
  del p
  return 1.0 - t


def _sine(t, p):
  """Sine(f, phi) = 0.5 + 0.5 sin(2 pi f t + phi), docs/papers.md §3."""
  return 0.5 + 0.5 * jnp.sin(2.0 * jnp.pi * p[..., 0] * t + p[..., 1])


def _positive_gamma(t, p):
  """Positive-Gamma = t ** gamma (docs/papers.md §3; this project's convention, see there)."""
  return jnp.power(t, p[..., 0])


def _negative_gamma(t, p):
  """Negative-Gamma = (1 - t) ** gamma (docs/papers.md §3; this project's convention)."""
  return jnp.power(1.0 - t, p[..., 0])


def _ramp(t, p):
  """Warm-up ramp min(1, t / ramp): USB's unsupervised warm-up of Pi-model,
  Mean Teacher and Pseudo-Label (weight t / 0.4 for the first 40 % of
  training, then 1; docs/papers.md §1)."""
  return jnp.minimum(1.0, t / p[..., 0])


def _threshold_ramp(t, p):
  """The ramp of ``threshold_ramp`` (tau, ramp): the ramp is its 2nd param."""
  return jnp.minimum(1.0, t / p[..., 1])


class GateKind(NamedTuple):
  """One row of the gate registry."""
  id: int
  name: str
  schedule: Callable  # (t, params[..., 2]) -> weight
  param_names: tuple[str, ...]
  per_sample: str | None  # None, "correct" or "threshold"


# The ids are the array encoding: never reorder, only append.
KINDS: tuple[GateKind, ...] = (
    GateKind(0, "through", _through, (), None),
    GateKind(1, "cutoff", _cutoff, (), None),
    GateKind(2, "linear", _linear, (), None),
    GateKind(3, "negative_linear", _negative_linear, (), None),
    GateKind(4, "correct", _through, (), "correct"),
    GateKind(5, "sine", _sine, ("f", "phi"), None),
    GateKind(6, "positive_gamma", _positive_gamma, ("gamma",), None),
    GateKind(7, "negative_gamma", _negative_gamma, ("gamma",), None),
    GateKind(8, "threshold", _through, ("tau",), "threshold"),
    GateKind(9, "ramp", _ramp, ("ramp",), None),
    GateKind(10, "threshold_ramp", _threshold_ramp, ("tau", "ramp"),
             "threshold"),
)
BY_NAME = {k.name: k for k in KINDS}
THROUGH, CUTOFF, CORRECT, THRESHOLD = 0, 1, 4, 8
# Kinds whose per-sample mask is the source's confidence > params[0] (tau).
THRESHOLDED = tuple(k.id for k in KINDS if k.per_sample == "threshold")


class GateError(ValueError):
  """A gate was given a bad name or parameter."""


def _check_range(gate: str, field: str, value: float, lo: float, hi: float):
  # numpy numbers are valid values; bools are not numbers here.
  if not (isinstance(value, numbers.Real)
          and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
          and lo <= value <= hi):
    raise GateError(f"{gate}.{field}={value!r} is outside the allowed range "
                    f"[{lo}, {hi}]")


# --- typed gates, as a person writes them in a spec -------------------------

class _Gate:
  """Base of the typed gates: encoding, a scalar schedule, JSON."""
  __slots__ = ()
  name: str = ""

  # Tuple equality would make Through() == Cutoff(): the kind is part of identity.
  def __eq__(self, other):
    return (isinstance(other, _Gate) and self.name == other.name
            and tuple(self) == tuple(other))

  def __ne__(self, other):
    return not self == other

  def __hash__(self):
    return hash((self.name, tuple(self)))

  def __repr__(self):
    args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.kind.param_names)
    return f"{type(self).__name__}({args})"

  @property
  def kind(self) -> GateKind:
    return BY_NAME[self.name]

  def params(self) -> tuple[float, float]:
    values = [float(getattr(self, f)) for f in self.kind.param_names]
    return tuple(values + [0.0] * (NUM_PARAMS - len(values)))  # type: ignore

  def schedule(self, t):
    """The scalar part of the gate at training progress ``t`` in [0, 1]."""
    return self.kind.schedule(jnp.asarray(t, jnp.float32),
                              jnp.asarray(self.params(), jnp.float32))

  def to_json(self) -> dict:
    return {"name": self.name,
            **{f: float(getattr(self, f)) for f in self.kind.param_names}}


class Through(_Gate, NamedTuple("Through", [])):
  """Weight 1: the loss always passes."""
  name = "through"


class Cutoff(_Gate, NamedTuple("Cutoff", [])):
  """Weight 0: the edge is absent."""
  name = "cutoff"


class Linear(_Gate, NamedTuple("Linear", [])):
  """Weight t (Positive Linear): transfer grows over training."""
  name = "linear"


class NegativeLinear(_Gate, NamedTuple("NegativeLinear", [])):
  """Weight 1 - t: transfer fades over training."""
  name = "negative_linear"


class Correct(_Gate, NamedTuple("Correct", [])):
  """Per sample: 1 where the source's top-1 equals the label (eq 3.7)."""
  name = "correct"


class Sine(_Gate, NamedTuple("Sine", [("f", float), ("phi", float)])):
  """0.5 + 0.5 sin(2 pi f t + phi); f in [0, 1], phi in [0, 3/2 pi]."""
  name = "sine"

  def validate(self):
    _check_range("sine", "f", self.f, *SINE_F_RANGE)
    _check_range("sine", "phi", self.phi, *SINE_PHI_RANGE)


class PositiveGamma(_Gate, NamedTuple("PositiveGamma", [("gamma", float)])):
  """t ** gamma, gamma in [0.01, 100]: increasing in t."""
  name = "positive_gamma"

  def validate(self):
    _check_range("positive_gamma", "gamma", self.gamma, *GAMMA_RANGE)


class NegativeGamma(_Gate, NamedTuple("NegativeGamma", [("gamma", float)])):
  """(1 - t) ** gamma, gamma in [0.01, 100]: decreasing in t."""
  name = "negative_gamma"

  def validate(self):
    _check_range("negative_gamma", "gamma", self.gamma, *GAMMA_RANGE)


class Threshold(_Gate, NamedTuple("Threshold", [("tau", float)])):
  """Per sample: 1 where the source's max probability exceeds tau (ch.5)."""
  name = "threshold"

  def validate(self):
    _check_range("threshold", "tau", self.tau, *TAU_RANGE)


class Ramp(_Gate, NamedTuple("Ramp", [("ramp", float)])):
  """min(1, t / ramp): a linear warm-up over the first ``ramp`` of training.

  >>> [float(Ramp(ramp=0.4).schedule(t)) for t in (0.0, 0.2, 0.4, 0.9)]
  [0.0, 0.5, 1.0, 1.0]
  """
  name = "ramp"

  def validate(self):
    _check_range("ramp", "ramp", self.ramp, *RAMP_RANGE)


class ThresholdRamp(_Gate, NamedTuple("ThresholdRamp", [("tau", float),
                                                        ("ramp", float)])):
  """Threshold(tau)'s per-sample mask times Ramp(ramp)'s warm-up: USB's
  Pseudo-Label (p_cutoff 0.95, unsupervised warm-up 0.4)."""
  name = "threshold_ramp"

  def validate(self):
    _check_range("threshold_ramp", "tau", self.tau, *TAU_RANGE)
    _check_range("threshold_ramp", "ramp", self.ramp, *RAMP_RANGE)


GATE_TYPES = {cls.name: cls for cls in (
    Through, Cutoff, Linear, NegativeLinear, Correct, Sine, PositiveGamma,
    NegativeGamma, Threshold, Ramp, ThresholdRamp)}

Gate = _Gate


def validate(gate) -> None:
  """Raises GateError if ``gate`` is not a gate or its parameters are out of range."""
  if not isinstance(gate, _Gate):
    raise GateError(f"gate={gate!r} is not a gate; allowed: "
                    f"{sorted(GATE_TYPES)}")
  check = getattr(gate, "validate", None)
  if check is not None:
    check()


def from_json(obj) -> _Gate:
  """Inverse of ``Gate.to_json``; a bare string names a parameter-free gate."""
  if isinstance(obj, str):
    obj = {"name": obj}
  if not isinstance(obj, dict) or "name" not in obj:
    raise GateError(f"gate={obj!r} must be a name or a dict with 'name'; "
                    f"allowed names: {sorted(GATE_TYPES)}")
  name = obj["name"]
  if not isinstance(name, str) or name not in GATE_TYPES:
    raise GateError(f"gate.name={name!r} is unknown; allowed: "
                    f"{sorted(GATE_TYPES)}")
  fields = BY_NAME[name].param_names
  extra = set(obj) - set(fields) - {"name"}
  missing = [f for f in fields if f not in obj]
  if extra or missing:
    raise GateError(f"gate={obj!r} is invalid: extra fields {sorted(extra)}, "
                    f"missing {missing}; allowed fields of {name!r}: "
                    f"{list(fields)}")
  gate = GATE_TYPES[name](**{f: obj[f] for f in fields})
  validate(gate)
  return gate


# --- gates as data: what the compiled step evaluates ------------------------

def schedules(kind, params, t):
  """Scalar part of encoded gates. ``kind``: int[...], ``params``: [..., 2]."""
  t = jnp.clip(jnp.asarray(t, jnp.float32), 0.0, 1.0)
  every = jnp.stack([k.schedule(t, params) * jnp.ones(kind.shape)
                     for k in KINDS], axis=-1)
  return jnp.take_along_axis(every, kind[..., None], axis=-1)[..., 0]


def masks(kind, params, source_probs, labels):
  """Per-sample part of encoded gates.

  Args:
    kind: int[...] gate ids.
    params: float[..., 2] gate parameters.
    source_probs: float[..., B, C] the source's class probabilities.
    labels: int[B].

  Returns:
    float[..., B]: 1 where the sample passes (Correct: source top-1 == label,
    thesis eq 3.7; Threshold and ThresholdRamp: max prob > tau, ch.5), 1
    for every other kind.
  """
  correct = jnp.argmax(source_probs, axis=-1) == labels
  confident = jnp.max(source_probs, axis=-1) > params[..., 0:1]
  gate_id = kind[..., None]
  thresholded = jnp.isin(gate_id, jnp.asarray(THRESHOLDED))
  mask = jnp.where(gate_id == CORRECT, correct,
                   jnp.where(thresholded, confident, True))
  return mask.astype(jnp.float32)


def gate_weights(kind, params, t, source_probs, labels):
  """Weight of every sample on every edge: schedule(t) * mask, float[..., B]."""
  return schedules(kind, params, t)[..., None] * masks(
      kind, params, source_probs, labels)
