"""Thesis ch.3 CIFAR protocol (docs/papers.md §5): SGD + Nesterov, lr 0.1, momentum 0.9,
batch 64, 200 epochs, lr / 10 every 60 epochs, pad-4 crop + flip; weight decay
is not stated, the public code uses 5e-4. Split 40,000 / 10,000 (docs/papers.md §4).

Pass ``--config=experiments/configs/ch3_cifar.py:cifar10`` for CIFAR-10.
"""

from ktg_jax.run import training


def get_config(dataset: str = "cifar100"):
  c = training.default_config()
  c.dataset = dataset
  c.epochs, c.batch_size = 200, 64
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.1, "step", (0.3, 0.6, 0.9)
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.augment = True
  return c
