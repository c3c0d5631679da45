"""The operations measured at each size, by key (the JSON results and the workers use these keys).

Only the standard library is imported here: MLflow's worker uses it too.
"""

from __future__ import annotations

REGISTER = "register"  # one more 4 KB version with its metadata
REGISTER_1MB = "register_1mb"  # one more ~1 MB version (5 files)
PROMOTE = "promote"  # the version registered in the round to production (ours: staging -> production, approved)
CLI_GET = "cli_get_model"  # wall time of `model-registry get-model NAME --stage production` (ours only)

# Reads, each done three ways.
RESOLVE_STAGE = "resolve_stage"  # the production version
RESOLVE_LABEL = "resolve_label"  # one version by its label (the one in the middle)
LIST = "list"  # every version, with its stage and metrics
READS = (RESOLVE_STAGE, RESOLVE_LABEL, LIST)

WARM = "warm"  # one registry object (MLflow: one client) reused for every call
FRESH = "fresh"  # a new registry object (MLflow: a new client) per call, in the same process
PROCESS = "process"  # a new process per call, timed after its imports and a first unrelated request
IN_PROCESS = (WARM, FRESH)
WAYS = (WARM, FRESH, PROCESS)


def read_op(read: str, way: str) -> str:
    """Key of a read done one way, e.g. ``resolve_stage_fresh``."""
    return f"{read}_{way}"
