"""Every preset proposes what it proposed before the one-protocol refactor.

``tests/data/space_proposals.json.gz`` was recorded from main at 9466522
(before ``ktg_jax/search`` had one space protocol; its five infeasibility
messages then cited "SPEC §1", now "docs/papers.md §1", the only edit since):
for each preset (and a
few overridden variants) its free parameters and their domains, its size,
``describe`` and ``loss_kinds``, its fingerprint (``_asdict``, what a stored
search compares on resume), and for seeds 0..7 the point ``sample`` draws,
whether it is feasible and the full ``GraphSpec`` JSON it becomes (or the
``InfeasiblePoint`` message); plus the first points Nevergrad's RandomSearch
asks for through ``tune.parametrization`` with seed 0 (what a search
proposes). Regenerate only on purpose: ``python tests/test_space_proposals.py
--write``.
"""

import gzip
import json
import os
import sys

import nevergrad as ng
import numpy as np
import pytest

from ktg_jax.search import presets
from ktg_jax.search import space_ops
from ktg_jax.search import tune as st

FIXTURE = os.path.join(os.path.dirname(__file__), "data",
                       "space_proposals.json.gz")
SEEDS = 8
NG_ASKS = 4
CKPTS = {"small_cnn": "/c/s", "resnet8": "/c/r"}


def _cases():
  """(preset name, args as recorded, the space)."""
  graph = sorted(set(presets.PRESETS) - set(presets.SEMI_SUPERVISED))
  out = [(n, {}, presets.get(n)) for n in graph]
  out += [
      ("ch3_4gates", {"num_nodes": 2}, presets.get("ch3_4gates", 2)),
      ("ch4", {"num_nodes": 2}, presets.get("ch4", 2)),
      ("tiny", {"num_nodes": 3, "search_pretrained": True,
                "pretrained_checkpoints": CKPTS},
       presets.get("tiny", 3, search_pretrained=True,
                  pretrained_checkpoints=CKPTS)),
      ("tiny", {"num_nodes": 2, "init_sources": {
          "fractal": {"small_cnn": "/f/s", "resnet8": "/f/r"}}},
       presets.get("tiny", 2, init_sources={
           "fractal": {"small_cnn": "/f/s", "resnet8": "/f/r"}})),
      ("ssl000", {"target_model": "small_cnn", "aux_models": ["small_cnn"]},
       presets.get("ssl000", target_model="small_cnn",
                  aux_models=("small_cnn",))),
  ]
  out += [(n, {}, presets.get(n)) for n in sorted(presets.SEMI_SUPERVISED)]
  out += [
      ("ch5_diverse", {"num_nodes": 2},
       presets.get("ch5_diverse", num_nodes=2)),
      ("ch5_tiny", {"pretrained_checkpoints": {"small_cnn": "/c/s"}},
       presets.get("ch5_tiny")._replace(
           pretrained_checkpoints={"small_cnn": "/c/s"})),
  ]
  return out


def _jsonable(x):
  return json.loads(json.dumps(x, default=lambda v: v.item() if hasattr(
      v, "item") else list(v)))


def _record(space) -> dict:
  rows = []
  for seed in range(SEEDS):
    point = space.sample(np.random.default_rng(seed))
    try:
      row = {"point": point, "spec": space.to_spec(point).to_json()}
    except space_ops.InfeasiblePoint as e:
      row = {"point": point, "infeasible": str(e)}
    row["feasible"] = space.feasible(point)
    rows.append(row)
  param = st.parametrization(space)
  param.random_state.seed(0)
  opt = ng.optimizers.registry["RandomSearch"](parametrization=param,
                                               budget=NG_ASKS, num_workers=1)
  asks = []
  for _ in range(NG_ASKS):
    candidate = opt.ask()
    asks.append(candidate.value)
    opt.tell(candidate, 0.0)
  return _jsonable({
      "parameters": [[k, repr(d)] for k, d in space.parameters().items()],
      "size": list(space.size()), "describe": space.describe(),
      "loss_kinds": list(space.loss_kinds()),
      "fingerprint": space._asdict(), "samples": rows,
      "nevergrad_asks": asks})


def _recorded() -> list[dict]:
  with gzip.open(FIXTURE, "rt") as f:
    return json.load(f)


CASES = _cases()


@pytest.mark.parametrize("i", range(len(CASES)),
                         ids=[f"{n}{a or ''}" for n, a, _ in CASES])
def test_a_preset_proposes_what_it_did_before(i):
  name, args, space = CASES[i]
  want = _recorded()[i]
  assert (want["preset"], want["args"]) == (name, _jsonable(args))
  got = _record(space)
  for key in ("parameters", "size", "describe", "loss_kinds", "fingerprint",
              "nevergrad_asks"):
    assert got[key] == want[key], key
  for seed, (g, w) in enumerate(zip(got["samples"], want["samples"])):
    assert g == w, f"seed {seed}"
  assert len(got["samples"]) == len(want["samples"]) == SEEDS


def test_the_fixture_covers_every_preset():
  names = {c["preset"] for c in _recorded()}
  assert names == set(presets.PRESETS)
  assert len(_recorded()) == len(CASES)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
  records = [{"preset": n, "args": _jsonable(a), **_record(s)}
             for n, a, s in CASES]
  with gzip.open(FIXTURE, "wt") as f:
    f.write("[\n" + ",\n".join(json.dumps(r, sort_keys=True)
                               for r in records) + "\n]\n")
