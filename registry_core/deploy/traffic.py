"""Traffic splits: integer percentages over deployed model ids that always sum to 100 (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping

from registry_core.errors import InvalidInputError
from registry_core.text import shown


def check_percent(percent: object, what: str = "traffic_percent") -> int:
    """Return `percent` if it is an integer in 1..100. Raises: InvalidInputError."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        msg = f"{what} must be an integer from 1 to 100, got {shown(percent)}"
        raise InvalidInputError(msg)
    return percent


def with_new(current: Mapping[str, int], new_id: str, percent: int) -> dict[str, int]:
    """Give `new_id` `percent` and scale the others to share the rest in their current proportions."""
    split = scale({k: v for k, v in current.items() if k != new_id}, 100 - percent)
    split[new_id] = percent
    return {k: v for k, v in split.items() if v > 0 or k == new_id}


def without(current: Mapping[str, int], removed: str) -> dict[str, int]:
    """Remove `removed` and scale the others back up to 100 (empty if nothing is left)."""
    rest = {k: v for k, v in current.items() if k != removed}
    if not rest:
        return {}
    if sum(rest.values()) == 0:
        return scale(dict.fromkeys(rest, 1), 100)
    return scale(rest, 100)


def scale(shares: Mapping[str, int], total: int) -> dict[str, int]:
    """Return integer shares proportional to `shares` that sum to `total` (largest remainders round up)."""
    if not shares or total <= 0:
        return dict.fromkeys(shares, 0)
    weight = sum(shares.values())
    if weight == 0:
        return dict.fromkeys(shares, 0)
    exact = {k: v * total / weight for k, v in shares.items()}
    result = {k: int(x) for k, x in exact.items()}
    short = total - sum(result.values())
    for key in sorted(exact, key=lambda k: (result[k] - exact[k], k))[:short]:
        result[key] += 1
    return result
