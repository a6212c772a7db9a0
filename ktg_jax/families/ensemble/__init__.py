"""Ensemble KTG (thesis ch.4, paper 004): the ``ensemble`` node kind
(``nodes``), Attention-Transfer maps (``attention``) and the loss kinds that
compare them (``attention_losses``); ``attention_maps`` draws them."""

from ktg_jax.families.ensemble import attention, attention_losses, nodes

__all__ = ["attention", "attention_losses", "nodes"]
