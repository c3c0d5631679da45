"""Speed measurements of registry_core against MLflow's model registry and against raw copies (``make bench``).

Run ``python -m benchmarks`` (``make bench`` also builds MLflow's own virtual environment first). Modules:

- ``settings``: the workload's sizes and counts (environment variables ``BENCH_*``).
- ``artifacts``: the artifact folders every system registers (the same bytes for each).
- ``gcs``: the fake-gcs-server emulator of the tests and a request-counting client.
- ``ours``: the workload on our registry (local folder or GCS); ``ours_worker`` is one concurrent registrant.
- ``mlflow_system``: the workload on MLflow, run by ``mlflow_worker`` inside MLflow's virtual environment.
- ``baselines``: copying and hashing the big folder (``cp -r`` + ``sha256sum``; raw blob uploads) and cold starts.
- ``report``: the printed tables (their column names are what the README's performance section shows).
- ``scale``: one model grown to thousands of versions, measured at each size (``python -m benchmarks.scale``,
  ``make bench-scale``); a package of its own.
"""
