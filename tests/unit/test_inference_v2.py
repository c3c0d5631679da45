"""KServe v2 tensors to instances and back (registry_core.deploy.inference_v2), with spec objects shaped like TF's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from registry_core.deploy.inference_v2 import (
    dims,
    instances_from_request,
    output_tensors,
    requested_outputs,
    tensor_metadata,
)
from registry_core.errors import InvalidInputError, PredictionError


@dataclass(frozen=True)
class DType:
    name: str


class Shape:
    def __init__(self, dims: list[int | None] | None) -> None:
        self._dims = dims

    def as_list(self) -> list[int | None]:
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)


@dataclass(frozen=True)
class Spec:
    """What the module reads of a tf.TensorSpec: dtype.name and shape.as_list()."""

    dtype: DType
    shape: Shape


def spec(dtype: str, *shape: int | None) -> Spec:
    return Spec(DType(dtype), Shape(list(shape)))


INPUTS = {"width": spec("float32", None), "shape": spec("string", None), "pixels": spec("int64", None, 2, 2)}


deep: list[object] = [1.0]
for _ in range(40):
    deep = [deep]


def tensor(name: str, shape: list[int], datatype: str, data: list[Any]) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def request(**overrides: dict[str, Any]) -> dict[str, Any]:
    tensors = {
        "width": tensor("width", [2], "FP32", [141.5, 150.0]),
        "shape": tensor("shape", [2], "BYTES", ["round", "oval"]),
        "pixels": tensor("pixels", [2, 2, 2], "INT64", [1, 2, 3, 4, 5, 6, 7, 8]),
    }
    return {"inputs": list((tensors | overrides).values())}


def test_metadata_names_v2_datatypes_and_minus_one_for_unknown_dimensions() -> None:
    assert tensor_metadata(INPUTS) == [
        {"name": "pixels", "datatype": "INT64", "shape": [-1, 2, 2]},
        {"name": "shape", "datatype": "BYTES", "shape": [-1]},
        {"name": "width", "datatype": "FP32", "shape": [-1]},
    ]
    assert dims(Spec(DType("float32"), Shape(None))) == [-1]  # unknown rank


def test_rows_of_the_batch_become_instances() -> None:
    instances = instances_from_request(request(), INPUTS)

    assert instances == [
        {"width": 141.5, "shape": "round", "pixels": [[1, 2], [3, 4]]},
        {"width": 150.0, "shape": "oval", "pixels": [[5, 6], [7, 8]]},
    ]


def test_nested_data_is_read_in_row_major_order_like_flat_data() -> None:
    nested = request(pixels=tensor("pixels", [2, 2, 2], "INT64", [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]))

    assert instances_from_request(nested, INPUTS) == instances_from_request(request(), INPUTS)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1], "must be a JSON object"),
        ({"instances": []}, "unknown fields ['instances']"),
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        (request(width=tensor("width", [2], "FP64", [1.0, 2.0])), "datatype 'FP64'; the model takes FP32"),
        (request(width=tensor("width", [3], "FP32", [1.0, 2.0])), "needs 3 values, 'data' has 2"),
        (request(width=tensor("width", [3], "FP32", [1.0, 2.0, 3.0])), "disagree on the batch size"),
        (request(width=tensor("width", [0], "FP32", [])), "the batch (the first dimension) is empty"),
        (request(width=tensor("width", [2, 1], "FP32", [1.0, 2.0])), "the model takes [-1]"),
        (request(pixels=tensor("pixels", [2, 4], "INT64", list(range(8)))), "the model takes [-1, 2, 2]"),
        (request(width=tensor("width", [-2], "FP32", [])), "non-negative integers"),
        (request(width=tensor("width", [2], "FP32", {"a": 1})), "'data' must be a list"),
        (request(width=tensor("width", [2], "FP32", [{"a": 1}, 2.0])), "holds an object"),
        (request(width=tensor("colour", [2], "FP32", [1.0, 2.0])), "unknown input 'colour'"),
        ({"inputs": [tensor("width", [1], "FP32", [1.0])]}, "missing inputs ['pixels', 'shape']"),
        ({"inputs": [*request()["inputs"], tensor("width", [2], "FP32", [1.0, 2.0])]}, "given twice"),
        (request(width={"name": "width", "shape": [2], "data": [1.0, 2.0]}), "missing ['datatype']"),
        (request(width=tensor("width", [2], "FP32", deep)), "nested deeper"),
    ],
)  # fmt: skip
def test_requests_that_do_not_fit_the_model_are_refused_by_name(payload: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        instances_from_request(payload, INPUTS)
    assert message in str(caught.value)


OUTPUTS = {"frame_style": spec("string", None), "probabilities": spec("float32", None, 3)}


def test_predictions_become_one_tensor_per_output_batch_first() -> None:
    predictions = [
        {"frame_style": "aviator", "probabilities": [0.7, 0.2, 0.1]},
        {"frame_style": "round", "probabilities": [0.1, 0.8, 0.1]},
    ]

    assert output_tensors(predictions, requested_outputs({}, OUTPUTS), OUTPUTS) == [
        {"name": "frame_style", "datatype": "BYTES", "shape": [2], "data": ["aviator", "round"]},
        {"name": "probabilities", "datatype": "FP32", "shape": [2, 3], "data": [0.7, 0.2, 0.1, 0.1, 0.8, 0.1]},
    ]
    only = requested_outputs({"outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}]}, OUTPUTS)
    assert only == ["probabilities"]


def test_unknown_outputs_and_ragged_rows_are_errors() -> None:
    with pytest.raises(InvalidInputError, match="unknown outputs \\['colour'\\]"):
        requested_outputs({"outputs": [{"name": "colour"}]}, OUTPUTS)
    with pytest.raises(InvalidInputError, match="'outputs' must be a list"):
        requested_outputs({"outputs": "frame_style"}, OUTPUTS)
    ragged = [{"probabilities": [0.5, 0.5]}, {"probabilities": [0.2, 0.3, 0.5]}]
    with pytest.raises(PredictionError, match="do not have one shape"):
        output_tensors(ragged, ["probabilities"], OUTPUTS)
