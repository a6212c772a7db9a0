"""Thesis ch.5 FixMatch-based space protocol (docs/papers.md §5, Table 5.1), CIFAR-100.

2^20 iterations, labelled batch 64, unlabelled 448 (mu = 7), lr 0.03, weight
decay 1e-3, SGD momentum 0.9 + Nesterov; weak view = flip + crop, strong =
weak + RandAugment (+ Cutout, as FixMatch); WRN-28-2 + its EMA node, score =
the better node, 60 graphs (ktg_jax/search/presets.py). Evaluation every
2^14 iterations (our choice: the interval is not printed), ASHA rungs at the
1st, 2nd, 4th ... evaluation. Labels: 400 / 2,500 / 10,000 = 4 / 25 / 100 per
class.
"""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.models, c.val_fraction = "cifar100", "wrn28_2", 0.2
  c.labels_per_class = 25
  c.batch_size, c.unlabeled_ratio = 64, 7
  c.eval_every = 2 ** 14
  c.epochs = 2 ** 20 // c.eval_every
  # FixMatch: cos(7 pi k / (16 K)) decay; our "cosine" is the half cosine.
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.03, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 1e-3, 0.9, True
  c.score = "best"
  c.consistency_weight, c.pseudo_label_weight, c.tau = 1.0, 1.0, 0.95
  c.ema_decay, c.ema_eval = 0.999, True
  c.search_space, c.search_trials = "ch5_fixmatch", 60
  return c
