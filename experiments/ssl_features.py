r"""PCA picture of a trained node's features, coloured by class (000).

  python experiments/ssl_features.py --workdir=/tmp/ssl2_real/final_ktg/member0 \
      --config=experiments/configs/ssl_fashion.py --picture=docs/ssl_pca.png

Reads the run's graph.json and final variables (``variables/node{i}``),
computes the node's ``features`` on the test split (inference mode) and draws
``ktg_jax.viz.run_pictures.features.draw_features``.
"""

from __future__ import annotations

import os

from absl import flags
import jax


from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg
from ktg_jax import checkpoint, data as data_lib
from ktg_jax.metrics import node_knn
from ktg_jax.viz import feature_pictures

_RUN = flags.DEFINE_string("workdir", None, "the run folder (graph.json, "
                           "variables/)")
flags.DEFINE_alias("run", "workdir")  # the old name
_NODE = flags.DEFINE_integer("node", None, "node index (default: the target)")
_OUTPUT = flags.DEFINE_string("picture", None, "picture path (.png)")
flags.DEFINE_alias("output", "picture")  # the old name
_SPLIT = flags.DEFINE_enum("split", "test", ["val", "test"], "images drawn")
_CONFIG = common.define_config(None, "the run's config")


def main(argv):
  del argv
  config = _CONFIG.value
  spec = ktg.GraphSpec.load(os.path.join(_RUN.value, "graph.json"))
  i = spec.target if _NODE.value is None else _NODE.value
  data = data_lib.from_config(
      config, val_fraction=0.0 if _SPLIT.value == "test" else None)
  split = data.test if _SPLIT.value == "test" else data.val
  module = ktg.core.step.node_modules(spec, data.num_classes)[i]
  like = module.init(jax.random.key(0), split.images[:2], train=False)
  variables = checkpoint.load_variables(
      os.path.join(_RUN.value, "variables", f"node{i}"), like)
  feats = node_knn.features(module, variables, split.images, 500)
  node = spec.nodes[i]
  title = (f"node {i}: {node.model} {node.learner or node.kind}, "
           f"{config.dataset} {_SPLIT.value} ({len(split.labels)} images), "
           "PCA of features")
  print(feature_pictures.draw_features(
      feats, split.labels, _OUTPUT.value, title,
      data_lib.class_names(config.dataset, data.num_classes)))


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "picture", "config"])
  common.run(main)
