"""Thesis ch.5 diverse space protocol (docs/papers.md §5, Table 5.2; Dual Student's).

CIFAR-100: labelled batch 31, unlabelled 97 (mu = 97 / 31 is not an integer:
we use 3 -> 93, the nearest), lr 0.2, weight decay 2e-4, SGD momentum 0.9 +
Nesterov, views flip + crop only; 200 epochs of the unlabelled data (about
82,400 - 98,800 iterations: the number depends on the labels), ResNet-32 /
WRN-28-6 nodes, 2 or 3 nodes, 1,500 graphs sampled, score = node 0.
CIFAR-10 (50 / 50, lr 0.1, wd 1e-4): ``--config.dataset=cifar10
--config.batch_size=50 --config.unlabeled_ratio=1 --config.learning_rate=0.1
--config.weight_decay=1e-4``.
"""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.models, c.val_fraction = "cifar100", "resnet32", 0.2
  c.labels_per_class = 40
  c.batch_size, c.unlabeled_ratio = 31, 3
  c.eval_every = 400        # ~ one pass over 40k unlabelled images / 93
  c.epochs = 200 * 40000 // (93 * c.eval_every)
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.2, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 2e-4, 0.9, True
  c.views = dict(weak="weak", strong="weak", a="weak", b="weak")
  c.consistency_weight, c.pseudo_label_weight, c.tau = 10.0, 1.0, 0.95
  c.ema_decay, c.ema_eval = 0.999, False
  c.search_space, c.search_trials = "ch5_diverse", 1500
  return c
