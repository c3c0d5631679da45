"""The training-data profile of a version for its page: the rows, a small chart per feature, or why there are none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from markupsafe import Markup

from registry_core.errors import NotFoundError, RegistryError
from registry_core.monitoring.profile_view import FeatureProfile, ProfileView, profile_view
from registry_core.text import one_line
from registry_core.web import charts

if TYPE_CHECKING:
    from registry_core.metadata import ModelMetadata
    from registry_core.registry import ModelRegistry


@dataclass(frozen=True)
class ProfileSection:
    """What the "Training data" section of a version's page shows.

    Attributes:
        view: The profile feature by feature; None when there is none or it cannot be read.
        charts: Feature -> its histogram (numbers) or the shares of its top values (strings).
        problem: Why a stored profile cannot be shown (damaged, changed since registration); "" otherwise.
    """

    view: ProfileView | None
    charts: dict[str, Markup]
    problem: str = ""


def profile_section(registry: ModelRegistry, metadata: ModelMetadata) -> ProfileSection:
    """Return the profile section of a version: without a profile an empty one, with a broken one the reason.

    The rest of the page stays readable when the profile is not: its problem is shown instead of an error page.
    """
    from registry_core.monitoring.stored import read_version_profile

    try:
        profile = read_version_profile(registry.storage, metadata)
    except NotFoundError:
        return ProfileSection(view=None, charts={})
    except RegistryError as exc:
        return ProfileSection(view=None, charts={}, problem=one_line(exc))
    view = profile_view(profile, model=metadata.model_name, version=metadata.version)
    return ProfileSection(view=view, charts={f.feature: chart for f in view.features if (chart := _chart(f))})


def _chart(feature: FeatureProfile) -> Markup | None:
    if feature.histogram:
        bars = [(float(b.count), f"{b.low:.4g} – {b.high:.4g}: {b.count}") for b in feature.histogram]
        return charts.mini_bars(bars, label=f"histogram of {feature.feature}")
    if feature.top_values:
        bars = [(t.share, f"{t.value}: {t.share:.1%} ({t.count})") for t in feature.top_values]
        return charts.mini_bars(bars, label=f"most frequent values of {feature.feature}")
    return None
