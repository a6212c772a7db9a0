"""Scale-out on JAX's own machinery: meshes and placement (``sharding``), and
the node axis split over devices (``node_axis``)."""

from ktg_jax.parallel import node_axis, sharding

__all__ = ["node_axis", "sharding"]
