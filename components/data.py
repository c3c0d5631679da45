"""Component: make the eyewear TFRecord data set (synthetic), or point at existing shards."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def generate_data(
    dataset: Output[Dataset],
    num_train: int = 2000,
    num_validation: int = 500,
    num_test: int = 500,
    shards: int = 2,
    seed: int = 0,
    source_uri: str = "",
    drift: dict = {},  # noqa: B006 - KFP parameters take literal defaults
) -> None:
    """Write train/validation/test TFRecord shards into `dataset`, or record the shards found under `source_uri`.

    The artifact's metadata lists the files of each split ("train", "validation", "test"). `drift` takes the
    fields of `eyewear_model.DataDrift` (e.g. ``{"measurement_shift_mm": 3}``); empty: the usual distribution.
    """
    from eyewear_model.data import find_dataset, generate_dataset

    if source_uri:
        paths = find_dataset(source_uri)
    else:
        paths = generate_dataset(
            dataset.path, num_train=num_train, num_validation=num_validation, num_test=num_test, shards=shards,
            seed=seed, drift=drift,
        )  # fmt: skip
    dataset.metadata.update(paths.model_dump(mode="json"))
