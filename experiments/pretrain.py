r"""Makes a checkpoint for a pre-trained node (002): ``Node(model, checkpoint,
kind="pretrained")``, or a search space's ``init_sources``.

  # (1) formula-driven fractals (ktg_jax/data/fractal.py), rendered offline
  python experiments/pretrain.py --config.dataset=fractal \
      --config.models=small_cnn --config.epochs=3 --workdir=runs/pre_fractal
  # (2) a label-only run on another real data set, resized to the target's
  #     8x8 digits (Fashion-MNIST: apt-get install dataset-fashion-mnist)
  python experiments/pretrain.py --config.dataset=fashion_mnist \
      --config.limit=6000 --config.image_size=8 --config.epochs=2 \
      --workdir=runs/pre_fm
  # (3) any checkpoint (e.g. ImageNet weights converted to our layout):
  #     checks that it loads into --config.models and prints how to use it
  python experiments/pretrain.py --checkpoint=/path/to/variables \
      --config.models=small_cnn --num_classes=10

The protocol is --config (default configs/pretrain.py; the source is
config.dataset, the node's model config.models). The checkpoint is ``<workdir>/variables/node0`` (training.fit's one-node
vanilla run: label edge only, the whole train split; the progress line is the
SOURCE's test accuracy, which says nothing about the target task).
The last line printed is ``init_source <source>:<model>=<path>``, the form
``--init_source`` of experiments/search.py and pretrained_graphs.py takes. With --picture, also a picture
of a few classes of the source.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
from ktg_jax.cli import common  # the scripts' command line


FLAGS = flags.FLAGS
_CONFIG = common.define_config(
    "pretrain.py", "the pre-training protocol (the source: --config.dataset; "
    "the model: --config.models)")
flags.DEFINE_string("workdir", None, "where the run and variables go")
flags.DEFINE_alias("output_dir", "workdir")  # the old name
flags.DEFINE_string("checkpoint", None, "(3): an existing checkpoint to check")
flags.DEFINE_integer("num_classes", 10, "(3): the target task's class count")
flags.DEFINE_string("picture", None, "write a picture of 6 classes here")


def resize(dataset, size: int):
  """Every split resized to size x size (bilinear, antialiased)."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  def one(split):
    n, _, _, c = split.images.shape
    images = jax.image.resize(split.images, (n, size, size, c), "linear")
    return split._replace(images=np.asarray(images, np.float32))
  return dataset._replace(train=one(dataset.train), val=one(dataset.val),
                          test=one(dataset.test))


def picture(path: str) -> str:
  """Four instances of six fractal categories, 64x64 (002's source)."""
  from ktg_jax.viz import figures  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from ktg_jax.data import fractal  # pylint: disable=import-outside-toplevel
  systems = fractal.sample_systems(6, seed=0)
  images = fractal.render(systems, np.repeat(np.arange(6), 4), 64, seed=1)
  fig, axes = figures.subplots(4, 6, figsize=(9, 6))
  for k, ax in enumerate(axes.T.flat):
    ax.imshow(images[k, ..., 0], cmap="gray")
    ax.axis("off")
  for c in range(6):
    axes[0, c].set_title(f"category {c}", fontsize=9)
  fig.suptitle("fractal categories (random IFS), 4 instances each")
  fig.savefig(path, dpi=80)
  return path


def check_checkpoint(path: str, model: str, num_classes: int) -> None:
  """Loads ``path`` into ``model`` as a pre-trained node would (or raises)."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from ktg_jax import checkpoint, models  # pylint: disable=import-outside-toplevel
  like = models.create(model, num_classes).init(
      jax.random.key(0), np.zeros((1, 8, 8, 1), np.float32), train=False)
  checkpoint.merge_pretrained(checkpoint.load_raw(path), like)


def main(argv):
  common.check_command_line(argv)
  from ktg_jax import classic, data, reproduce  # pylint: disable=import-outside-toplevel
  from ktg_jax.run import training
  config = _CONFIG.value
  model = config.models.split(",")[0]
  if FLAGS.picture:
    print(f"picture: {picture(FLAGS.picture)}")
  if FLAGS.checkpoint:
    path = os.path.abspath(FLAGS.checkpoint)
    check_checkpoint(path, model, FLAGS.num_classes)
    print(f"init_source checkpoint:{model}={path}")
    return
  if config.dataset not in data.SOURCES:
    raise app.UsageError(f"--config.dataset={config.dataset!r} is invalid; "
                         f"allowed: {sorted(data.SOURCES)}")
  if not FLAGS.workdir:
    raise app.UsageError("--workdir is required (without --checkpoint)")
  dataset = data.from_config(config, seed=config.seed)
  if config.get("image_size"):
    dataset = resize(dataset, config.image_size)
  training.fit(classic.vanilla(model), dataset,
               reproduce.train_config(config), FLAGS.workdir)
  path = os.path.abspath(os.path.join(FLAGS.workdir, "variables", "node0"))
  print(f"init_source {config.dataset}:{model}={path}")


if __name__ == "__main__":
  common.run(main)
