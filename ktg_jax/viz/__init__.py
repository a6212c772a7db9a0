"""Pictures, drawn on matplotlib's object-oriented ``Figure`` (``figures``:
no backend switch): a run's graph, gate schedules and curves
(``run_pictures``), a node's features in 2-D (``features``)."""
