"""002: "pre-trained on source X" as a searchable node option, and pretrain.py."""

import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax import checkpoint
from ktg_jax.search import presets
from ktg_jax.search import space_ops
from ktg_jax.search import spaces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _images(n=4):
  return np.random.default_rng(0).uniform(size=(n, 8, 8, 1)).astype(np.float32)


def _checkpoint(tmp_path, model, classes, seed):
  variables = ktg.models.create(model, classes).init(
      jax.random.key(seed), _images(), train=False)
  return variables, checkpoint.save_variables(
      str(tmp_path / f"{model}_{classes}_{seed}"), variables)


def test_init_option_samples_pretrained_nodes_that_load_then_train(tmp_path):
  src, path = _checkpoint(tmp_path, "small_cnn", 32, 1)  # e.g. 32 fractal classes
  space = presets.get("tiny", aux_models=("small_cnn",), gates=("through",),
                     init_sources={"fractal": {"small_cnn": path}})
  assert space.parameters()["init_1"].options == ("scratch", "fractal")
  point = space.sample(np.random.default_rng(0))
  point.update(init_0="scratch", init_1="fractal", init_2="scratch")
  spec = space.to_spec(point)
  assert [n.kind for n in spec.nodes] == ["trainable", "pretrained",
                                          "trainable"]
  assert spec.nodes[1].checkpoint == path
  program = ktg.compile(spec, num_classes=10, total_steps=5,
                        optimizer=optax.sgd(0.1))
  state = program.init(jax.random.key(0), _images())
  p = state.params["node1"]
  for layer in ("conv0", "conv1", "bn0", "bn1"):  # loaded = the checkpoint
    chex.assert_trees_all_close(p[layer], src["params"][layer])
  assert p["fc"]["kernel"].shape == (32, 10)  # 32 -> 10 classes: head fresh
  new, _ = program.step(state, {"image": _images(),
                                "label": np.arange(4, dtype=np.int32)})
  moved = jnp.abs(new.params["node1"]["conv0"]["kernel"] - p["conv0"]["kernel"])
  assert float(moved.max()) > 0  # not frozen: trained in the graph


def test_scratch_everywhere_is_the_plain_graph(tmp_path):
  _, path = _checkpoint(tmp_path, "small_cnn", 10, 0)
  space = presets.get("tiny", aux_models=("small_cnn",), gates=("through",),
                     init_sources={"fashion": {"small_cnn": path}})
  point = {k: d.options[0] for k, d in space.parameters().items()}
  assert all(point[f"init_{i}"] == "scratch" for i in range(3))
  assert all(n.kind == "trainable" for n in space.to_spec(point).nodes)
  size = space.size()
  assert size.plain == 2 ** 3  # only the three init choices vary


def test_init_sources_validation_and_parsing():
  with pytest.raises(space_ops.SpaceError, match=r"init_sources\['fractal'\]"):
    presets.get("tiny", init_sources={"fractal": {"small_cnn": "/p"}})
  with pytest.raises(space_ops.SpaceError, match=r"init_sources\['scratch'\]"):
    presets.get("tiny", init_sources={"scratch": {"small_cnn": "/p",
                                                 "resnet8": "/q"}})
  assert spaces.init_sources_from(["fractal:small_cnn=/a", "fractal:resnet8=/b",
                                   "fm:small_cnn=/c"]) == {
      "fractal": {"small_cnn": "/a", "resnet8": "/b"}, "fm": {"small_cnn": "/c"}}
  with pytest.raises(space_ops.SpaceError, match="init_source='fractal=/a'"):
    spaces.init_sources_from(["fractal=/a"])


def test_pretrain_script_makes_a_loadable_checkpoint(tmp_path):
  out = subprocess.run(
      [sys.executable, "experiments/pretrain.py", "--config.dataset=fractal",
       "--config.limit=128", "--config.epochs=1", "--config.batch_size=32",
       f"--workdir={tmp_path / 'pre'}"], cwd=ROOT, capture_output=True,
      text=True, timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
  assert out.returncode == 0, out.stderr[-2000:]
  last = out.stdout.strip().splitlines()[-1]
  assert last.startswith("init_source fractal:small_cnn=")
  sources = spaces.init_sources_from([last.split()[1]])
  saved = checkpoint.load_raw(sources["fractal"]["small_cnn"])
  assert saved["params"]["fc"]["kernel"].shape[-1] == 32  # fractal classes
  like = ktg.models.create("small_cnn", 10).init(jax.random.key(0),
                                                  _images(), train=False)
  loaded = checkpoint.merge_pretrained(saved, like)  # what --checkpoint checks
  chex.assert_trees_all_close(loaded["params"]["conv1"],
                              saved["params"]["conv1"])
