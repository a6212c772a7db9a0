"""The families of the research program, each a plug-in of the core.

A family registers its node kinds and loss kinds with the core when it is
imported (``import ktg_jax`` imports them all, in this order: the order of
loss registration fixes the loss ids):

* ``ensemble`` (thesis ch.4, paper 004): the ensemble node kind, attention
  maps and the attention-transfer loss kinds;
* ``semi`` (thesis ch.5): the EMA node kind (Mean Teacher);
* ``ssl`` (paper 000): the ssl node kind (seven self-supervised learners)
  and the DoGo / DisCo edge loss kinds.
"""

from ktg_jax.families import ensemble, semi, ssl

__all__ = ["ensemble", "semi", "ssl"]
