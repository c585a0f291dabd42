"""The tuning algorithms: search spaces and the strategies that search them.

Nothing here imports Django. Everything works on plain values and frozen snapshots handed
in by the caller, so the same code serves the reconcile task, the tests and the benchmarks.
"""
