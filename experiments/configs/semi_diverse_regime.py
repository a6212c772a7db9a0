"""Thesis ch.5's diverse space (Fig. 5.5; Tables 5.4 / 5.5) in issue 25's regime.

``semi_regime.py``'s validated settings (Fashion-MNIST, 10 labels per class,
20,000 iterations, SGD Nesterov lr 0.03 half cosine, weight decay 5e-4,
labelled batch 32, EMA 0.999 scored with the student's BatchNorm statistics)
with Dual Student's choices where the diverse protocol departs from
FixMatch's (docs/papers.md §5, ch.5's Table 5.2):

* unlabelled batch 3x the labelled one (Dual Student: 97 / 31 on CIFAR-100);
* views flip + crop only: the "strong" view is the weak one (no RandAugment);
* nodes: the target small_cnn (the baselines' model) and auxiliaries of a
  different architecture, resnet8 or small_cnn (stand-ins for ResNet-32 /
  WRN-28-6 at 28 x 28 on a CPU budget): ``search.py --space=ch5_diverse
  --target_model=small_cnn --aux_models=small_cnn,resnet8``.

Kept from the validated regime rather than Dual Student's: the learning rate
and weight decay (Dual Student: 0.2 / 2e-4 for 200 CIFAR epochs) and the
length. The published comparison trains the baselines under the same protocol
(Table 5.4's supervised / Mean Teacher / FixMatch rows are Dual Student's):
``semi.py --config=<this>``.
"""

from ktg_jax.cli import common


def get_config():
  c = common.config_beside(__file__, "semi_regime.py").get_config()
  c.unlabeled_ratio = 3
  c.unlabeled_ratio_by_method = {}     # every method at the protocol's 3
  c.views = dict(weak="weak", strong="weak", a="weak", b="weak")
  c.search_space, c.search_trials = "ch5_diverse", 50
  return c
