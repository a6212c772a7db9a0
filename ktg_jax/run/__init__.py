"""Training a graph: THE loop (``training.fit``), populations of seeds or
graphs (``population``), the batch feeds (``feeds``), how a graph is scored
(``scoring``), the run folder (``run_files``), several seeds of one graph
(``seeds``) and host memory (``memory``)."""
