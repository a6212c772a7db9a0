r"""Attention maps of a trained run's nodes on a few validation images, with
the ch.4 crop windows drawn (``ktg_jax.families.ensemble.attention_maps``).

  python experiments/attention_maps.py --workdir=/tmp/retrain/searched/member0 \
      --picture=/tmp/attention.png --num_images=6
  # the ch.4 regime's resnet8 members (4 x 7 maps): compress.py's crops
  python experiments/attention_maps.py --workdir=runs/ch4_pilot/independent_m2_seed0 \
      --crop_sizes=2,3,4 --picture=docs/ch4_table49_attention.png
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
import jax


from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg
from ktg_jax.families.ensemble import attention
from ktg_jax import checkpoint
from ktg_jax import data as data_lib
from ktg_jax.families.ensemble import attention_losses as losses_attention
from ktg_jax import models
from ktg_jax.families.ensemble import attention_maps as viz_attention

flags.DEFINE_string("workdir", None, "the run folder: graph.json, config.json, "
                    "variables/")
flags.DEFINE_alias("run", "workdir")  # the old name
flags.DEFINE_string("picture", None, "PNG path (default WORKDIR/attention.png)")
flags.DEFINE_alias("out", "picture")  # the old name
flags.DEFINE_integer("num_images", 6, "validation images (the first ones)")
flags.DEFINE_integer("agreement_images", 0, "also print, per pair of "
                     "nodes, on how many of the first N validation images "
                     "their maps peak in the same cell (0: not)")
flags.DEFINE_list("crop_sizes", [], "crop windows to draw instead of the "
                  "family's (compress.py's config compress.crop_sizes)")
FLAGS = flags.FLAGS


def crop_sizes(model: str, override=()) -> tuple:
  """``override`` (``--crop_sizes``) if given, else the crops of ``model``'s
  family (thesis §4.4.1)."""
  if override:
    return tuple(int(k) for k in override)
  return attention.CROP_SIZES[losses_attention.family(model)]


def main(argv):
  del argv
  if not FLAGS.workdir or not os.path.isdir(FLAGS.workdir):
    raise app.UsageError(f"--workdir={FLAGS.workdir!r} is not a run folder")
  with open(os.path.join(FLAGS.workdir, "graph.json")) as f:
    # sized attention kinds (a ch4 search with crop_sizes) exist once used
    spec = ktg.GraphSpec.from_json(losses_attention.ensure_kinds(json.load(f)))
  with open(os.path.join(FLAGS.workdir, "config.json")) as f:
    cfg = json.load(f)
  data = data_lib.from_config(cfg)  # the run's own data and split
  images = data.val.images[:FLAGS.num_images]
  variables = {}
  for i, node in enumerate(spec.nodes):
    if node.model is None or "attention" not in models.outputs(node.model):
      continue
    like = models.create(node.model, data.num_classes).init(
        jax.random.key(0), images, train=False)
    variables[i] = checkpoint.load_variables(
        os.path.join(FLAGS.workdir, "variables", f"node{i}"), like)
  maps = viz_attention.node_maps(spec, variables, images, data.num_classes)
  sizes = {f"node {i} ({spec.nodes[i].model})": crop_sizes(spec.nodes[i].model,
                                                         FLAGS.crop_sizes)
           for i in variables}
  path = viz_attention.save_attention_grid(
      FLAGS.picture or os.path.join(FLAGS.workdir, "attention.png"), images, maps,
      sizes)
  print(f"attention maps: {path}")
  if FLAGS.agreement_images:
    many = data.val.images[:FLAGS.agreement_images]
    maps = viz_attention.node_maps(spec, variables, many, data.num_classes)
    names = list(maps)
    for x, name in enumerate(names):
      for other in names[x + 1:]:
        share = viz_attention.peak_agreement(maps[name], maps[other])
        print(f"peaks coincide: {name} / {other}: {share:.3f} of "
              f"{len(many)} validation images")


if __name__ == "__main__":
  common.run(main)
