"""What ``verify``, the figures and the experiments share to run simulations (floor 5).

- :mod:`~normtheory.runs.seeds` -- setting keys and the one seeding rule;
- :mod:`~normtheory.runs.memo` -- one in-memory memo of the Monte Carlo engines;
- :mod:`~normtheory.runs.simulator` -- the simulator id (version, backend, device) in every
  result-store key;
- :mod:`~normtheory.runs.table` -- tidy tables of rows with intervals, as CSV;
- :mod:`~normtheory.runs.executors` -- serial and Dask executors (``--jobs``, ``--scheduler``);
- :mod:`~normtheory.runs.progress` -- progress bars.

Results are put into and read from :class:`normtheory.store.ResultStore` by kind and spec
(:meth:`~normtheory.store.ResultStore.put`, :meth:`~normtheory.store.ResultStore.lookup`).
"""
