"""The Trainer protocol that `integration` trains, exports and evaluates models through, and finding installed ones.

A model package plugs in without the core importing it: it declares an object of this shape in the
``registry_core.trainers`` entry point group, e.g. in its pyproject.toml::

    [project.entry-points."registry_core.trainers"]
    eyewear = "eyewear_model.trainer:TRAINER"

and `find_trainer` picks it by the type of the configuration it is given. The object need not import this module:
the protocol is structural, and everything crossing it is a path, a list of paths or a dict of metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from registry_core.errors import DependencyMissingError, InvalidInputError
from registry_core.text import one_line

logger = logging.getLogger(__name__)

TRAINER_GROUP = "registry_core.trainers"


@runtime_checkable
class Trainer(Protocol):
    """Trains one kind of model on data files, exports it as a folder and evaluates an exported folder."""

    @property
    def config_type(self) -> type[Any]:
        """The configuration class `train` takes; it is built with no arguments for the default configuration."""

    def train(
        self, train_paths: Sequence[str], validation_paths: Sequence[str], config: Any
    ) -> tuple[Any, Mapping[str, float]]:
        """Train a new model.

        Args:
            train_paths: Training data files.
            validation_paths: Validation data files; may be empty.
            config: An instance of `config_type`.

        Returns:
            The trained model and its metrics on `validation_paths` (on `train_paths` when there are none).
        """

    def export(self, model: Any, folder: Path) -> Path:
        """Write `model` (as `train` returned it) into `folder` and return the folder to register."""

    def evaluate(self, folder: Path, paths: Sequence[str]) -> Mapping[str, float]:
        """Return the metrics of the model exported in `folder` on the labelled data files `paths`.

        Raises:
            ValueError: `folder` holds no model this trainer can evaluate.
        """


def find_trainer(config: object | None = None) -> Trainer:
    """Return the installed trainer whose `config_type` `config` is; without a config, the only one installed.

    Args:
        config: A training configuration, or None.

    Raises:
        DependencyMissingError: No installed trainer takes `config` (or none is installed).
        InvalidInputError: Several do: pass one explicitly.
    """
    trainers, unavailable = _installed_trainers()
    if config is not None:
        trainers = {name: trainer for name, trainer in trainers.items() if isinstance(config, trainer.config_type)}
    if len(trainers) == 1:
        return next(iter(trainers.values()))
    wanted = f"a config of type {type(config).__name__}" if config is not None else "models"
    if trainers:
        msg = f"several installed trainers take {wanted} ({', '.join(sorted(trainers))}): pass trainer= explicitly"
        raise InvalidInputError(msg)
    msg = (
        f"no installed trainer takes {wanted}: install the package that declares one in the {TRAINER_GROUP!r} "
        "entry point group, or pass trainer= explicitly"
    )
    if unavailable:
        msg += f" (unavailable: {'; '.join(unavailable)})"
    raise DependencyMissingError(msg)


def _installed_trainers() -> tuple[dict[str, Trainer], list[str]]:
    """Load the declared trainers; return them by name, and why the others could not be loaded."""
    from importlib.metadata import entry_points

    trainers: dict[str, Trainer] = {}
    unavailable: list[str] = []
    for entry in entry_points(group=TRAINER_GROUP):
        try:
            trainer = entry.load()
        except ImportError as exc:  # its package or one of its dependencies is missing: the others still serve
            logger.warning("trainer %r is unavailable: %s", entry.name, one_line(exc))
            unavailable.append(f"{entry.name}: {one_line(exc)}")
            continue
        if not isinstance(trainer, Trainer):
            unavailable.append(f"{entry.name}: {entry.value} is not a trainer")
            continue
        trainers[entry.name] = trainer
    return trainers, unavailable
