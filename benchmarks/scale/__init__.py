"""How the registry scales with the number of versions of one model, beside MLflow (``make bench-scale``).

Run ``python -m benchmarks.scale`` (``make bench-scale`` also builds MLflow's virtual environment first). Modules:

- ``settings``: sizes, rounds and limits (environment variables ``BENCH_SCALE_*``).
- ``workload``: one version's 4 KB folder and metadata; ``operations``: the keys of what is measured.
- ``samples``: timing calls (and counting GCS requests and bytes) into JSON-ready samples.
- ``ours``: our registry on a local folder or on GCS; ``probe`` runs one read in a new process.
- ``mlflow_system`` drives ``mlflow_worker``, which runs the same workload inside MLflow's virtual environment.
- ``big``: a big registration against ``cp -r`` + ``sha256sum`` of the copy.
- ``report``: a table per size, the targets table, the JSON results.
"""
