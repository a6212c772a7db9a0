"""Semi-supervised KTG (thesis ch.5): the ``ema`` node kind (``ema``). The
views and feeds of labelled + unlabelled batches are the data's
(``ktg_jax.data.semi``, ``ktg_jax.data.randaugment``, ``ktg_jax.run.feeds``)."""

from ktg_jax.families.semi import ema

__all__ = ["ema"]
