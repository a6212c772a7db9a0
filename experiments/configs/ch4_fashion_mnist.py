"""The ch.4 ensemble protocol sized for a 2-core CPU (not a published one).

Thesis ch.4 (docs/papers.md §5): momentum SGD lr 0.1, wd 1e-4, batch 16, 300 epochs,
lr x0.1 at 150 and 225 (``ch4_cifar.py``). Here: Fashion-MNIST, the first
2,000 images of each official split, 3 ResNet-8 members, 4 epochs, batch 64,
lr 0.05 half-cosine (batch 16 and a step schedule do not fit 4 epochs), the
thesis's weight decay 1e-4 and plain momentum; random crop (pad 2) in the step.
"""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.limit = "fashion_mnist", 1000
  c.models = "resnet8"
  c.epochs, c.batch_size = 4, 64
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 1e-4, 0.9, False
  c.augment = True
  return c
