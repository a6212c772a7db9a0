"""How trained nodes are measured: ensemble accuracy, diversity and gain
(ch.4, ``ensemble``), the KNN classifier on features (``knn``) and the KNN
accuracy of a node's features (000, ``node_knn``)."""

from ktg_jax.metrics import ensemble, knn, node_knn

__all__ = ["ensemble", "knn", "node_knn"]
