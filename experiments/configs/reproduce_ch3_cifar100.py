"""Thesis Table 3.2, the published protocol (docs/papers.md §5; for CIFAR-100 and a GPU).

ch.3: ResNet-32 target, WRN-28-2 auxiliaries, SGD + Nesterov lr 0.1 / 10 at
epochs 60, 120, 180 of 200, batch 64, wd 5e-4, pad-4 crop + flip, 40,000 /
10,000 split for the searches (random graphs + ASHA; gamma gates:
Nevergrad BO without early stopping, docs/papers.md §4), 5 seeds per row.
``search.num_trials`` is the thesis's order of magnitude scaled to one GPU
day per space; raise it for the full 1,500-graph searches.
"""

from ktg_jax.cli import common


def _ch3_cifar():
  """experiments/configs/ch3_cifar.py, the file beside this one."""
  return common.config_beside(__file__, "ch3_cifar.py")


def get_config(dataset: str = "cifar100"):
  c = _ch3_cifar().get_config(dataset)
  c.target, c.aux = "resnet32", "wrn28_2"
  c.models = c.target
  c.teacher_seed = 100
  c.rows = ("vanilla", "kd", "dml", "dml_aux", "ktg2_4gates", "ktg3_4gates",
            "ktg3_sine", "ktg_gamma")
  c.search = dict(searcher="tune", num_trials=100, epochs=200, workers=1,
                  cpus_per_trial=4.0, gpus_per_trial=1.0)
  return c
