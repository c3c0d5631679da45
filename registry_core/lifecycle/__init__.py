"""Every lifecycle rule of the registry, as pure functions, one concept per module.

* stages     - the transition table and the check of a stage change
* approvals  - the approval policy, four-eyes, which approvals count, who may decide
* changes    - history entries, stage moves, registration, notes and validation results on a model's record
* promotion  - promote, request, approve and reject: the approval-gated promotion workflow
* rollback   - which versions held production, where production can go back to, and the rollback itself

A change takes the model's record as last read and returns the new one (or raises); `ModelRegistry` writes it by
compare-and-swap, so every decision is made on the state it is written over.
"""
