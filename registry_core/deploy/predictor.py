"""Serve any TensorFlow SavedModel's ``serving_default`` signature on JSON instances (TensorFlow imported lazily)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from registry_core.errors import DeploymentError, InvalidInputError, PredictionError
from registry_core.tensorflow_import import import_tensorflow
from registry_core.text import shown

SIGNATURE = "serving_default"


class SavedModelPredictor:
    """A loaded SavedModel answering lists of JSON instances (dicts keyed by the signature's input names).

    Args:
        folder: The SavedModel folder (already verified against its manifest).

    Raises:
        DeploymentError: the folder is not a SavedModel with a ``serving_default`` signature.
    """

    def __init__(self, folder: Path) -> None:
        tf = import_tensorflow("serving models")
        self._tf = tf
        if not (folder / "saved_model.pb").is_file():
            msg = f"{folder} is not a TensorFlow SavedModel (no saved_model.pb); only SavedModels can be served"
            raise DeploymentError(msg)
        try:
            self._loaded = tf.saved_model.load(str(folder))
        except Exception as exc:  # noqa: BLE001 - TF raises many types for a broken model
            msg = f"cannot load the SavedModel in {folder}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
            raise DeploymentError(msg) from exc
        if SIGNATURE not in self._loaded.signatures:
            msg = f"the SavedModel in {folder} has no {SIGNATURE!r} signature"
            raise DeploymentError(msg)
        self._signature = self._loaded.signatures[SIGNATURE]
        self.inputs: dict[str, Any] = dict(self._signature.structured_input_signature[1])
        self.outputs: dict[str, Any] = dict(self._signature.structured_outputs)
        self._lock = threading.Lock()  # TF functions are thread-safe, but one at a time keeps CPU use predictable

    def predict(self, instances: Sequence[Any]) -> list[dict[str, Any]]:
        """Return one dict of outputs per instance.

        Raises:
            InvalidInputError: an instance is not an object with exactly the signature's inputs, or a value
                does not fit its input's type.
            PredictionError: the model failed on valid input.
        """
        tf = self._tf
        if not isinstance(instances, list | tuple) or not instances:
            msg = "'instances' must be a non-empty list"
            raise InvalidInputError(msg)
        columns: dict[str, list[Any]] = {name: [] for name in self.inputs}
        for index, instance in enumerate(instances):
            if not isinstance(instance, Mapping):
                msg = f"instance {index} must be an object with the inputs {sorted(self.inputs)}"
                raise InvalidInputError(msg)
            missing = sorted(set(self.inputs) - set(instance))
            unknown = sorted(set(instance) - set(self.inputs))
            if missing or unknown:
                parts = (f"missing {missing}" if missing else "", f"unknown {shown(unknown)}" if unknown else "")
                detail = "; ".join(part for part in parts if part)
                msg = f"instance {index}: {detail}"
                raise InvalidInputError(msg)
            for name in self.inputs:
                columns[name].append(instance[name])
        tensors: dict[str, Any] = {}
        for name, values in columns.items():
            spec = self.inputs[name]
            if spec.dtype.is_integer:
                # Vertex AI's :predict carries instances as protobuf Values, whose numbers are doubles: its SDK
                # sends 1 as 1.0. A whole number is the integer it was; 1.5 stays and is refused below.
                values = _whole_numbers(values)
            try:
                tensor = tf.constant(values, dtype=spec.dtype)
            except (TypeError, ValueError) as exc:
                msg = f"instances do not fit the model's inputs: {name!r}: {str(exc).splitlines()[0]}"
                raise InvalidInputError(msg) from None
            tensors[name] = tensor
            if not tensor.shape.is_compatible_with(spec.shape):
                wanted = "a single value" if spec.shape.rank == 1 else f"shape {spec.shape[1:]}"
                msg = f"instances do not fit the model's inputs: {name!r} must be {wanted} per instance"
                raise InvalidInputError(msg)
        try:
            with self._lock:
                outputs = self._signature(**tensors)
        except tf.errors.InvalidArgumentError as exc:
            msg = f"the model rejected the instances: {_tf_message(exc)}"
            raise InvalidInputError(msg) from None
        except Exception as exc:  # noqa: BLE001 - a model failing on valid input is the deployment's fault
            msg = f"the model failed: {_tf_message(exc)}"
            raise PredictionError(msg) from exc
        arrays = {name: value.numpy() for name, value in outputs.items()}
        if unbatched := sorted(n for n, a in arrays.items() if a.ndim == 0 or a.shape[0] != len(instances)):
            msg = f"the model failed: outputs {unbatched} do not have one row per instance"
            raise PredictionError(msg)
        return [{name: _jsonable(array[i]) for name, array in arrays.items()} for i in range(len(instances))]


def _tf_message(exc: Exception) -> str:
    """The informative line of a TensorFlow error (not "Graph execution error:" or the node's stack header)."""
    text = str(getattr(exc, "message", "") or exc)
    skipped = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[{{node")
    lines = [line.strip() for line in text.splitlines()]
    useful = [line for line in lines if line and not line.startswith(skipped)]
    return (useful or [line for line in lines if line] or [repr(exc)])[0]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _whole_numbers(value: Any) -> Any:
    """Return `value` (nested lists of numbers) with whole floats as ints: 1.0 -> 1, 1.5 and the rest unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value
