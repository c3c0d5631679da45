"""KServe's Open Inference Protocol (v2) tensors, to and from the instances our predictors take (no TensorFlow here).

A v2 request carries named tensors: ``{"name", "shape", "datatype", "data"}`` with ``data`` in row-major order
(flat, or nested as the shape says). The first dimension of every input is the batch: row ``i`` of each input makes
instance ``i``, ``{input name: value}``. Predictions (one dict of outputs per instance) go back as one tensor per
output with the batch first. Tensor specs are read duck-typed (``spec.dtype.name``, ``spec.shape``), so a TensorFlow
``TensorSpec`` works without this module importing TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from registry_core.errors import InvalidInputError, PredictionError
from registry_core.text import shown

PLATFORM = "tensorflow_savedmodel"
DATATYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "bfloat16": "BF16",
    "string": "BYTES",
}
"""v2 datatype of each TensorFlow dtype name."""
_REQUEST_FIELDS = {"id", "parameters", "inputs", "outputs"}
_INPUT_FIELDS = {"name", "shape", "datatype", "parameters", "data"}
_MAX_RANK = 32  # TensorFlow's own limit is 254; a deeper "shape" is a mistake, and nesting costs recursion


def datatype(spec: Any) -> str:
    """Return the v2 datatype of a tensor spec (``BYTES`` for strings; the dtype name upper-cased if unmapped)."""
    name = str(getattr(getattr(spec, "dtype", None), "name", ""))
    return DATATYPES.get(name, name.upper() or "BYTES")


def dims(spec: Any) -> list[int]:
    """Return a spec's shape with -1 for each unknown dimension (``[-1]`` if even the rank is unknown)."""
    known = _known_dims(spec)
    return [-1] if known is None else known


def _known_dims(spec: Any) -> list[int] | None:
    """A spec's shape with -1 for each unknown dimension, or None if its rank is unknown."""
    shape = getattr(spec, "shape", None)
    try:
        listed = shape.as_list() if shape is not None else None
    except ValueError:  # TensorShape of unknown rank
        return None
    return None if listed is None else [-1 if d is None else int(d) for d in listed]


def tensor_metadata(specs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the ``{"name", "datatype", "shape"}`` of each tensor spec, sorted by name (model metadata)."""
    return [{"name": name, "datatype": datatype(spec), "shape": dims(spec)} for name, spec in sorted(specs.items())]


def instances_from_request(payload: Any, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Turn a v2 inference request into one instance per row of the batch.

    Args:
        payload: The parsed request body.
        inputs: The model's input specs by name.

    Raises:
        InvalidInputError: the request is not a v2 request for these inputs (names, datatypes, shapes, data).
    """
    if not isinstance(payload, dict):
        msg = 'the request body must be a JSON object: {"inputs": [{"name", "shape", "datatype", "data"}, ...]}'
        raise InvalidInputError(msg)
    if unknown := sorted(set(payload) - _REQUEST_FIELDS):
        msg = f"unknown fields {shown(unknown)}; an inference request has {sorted(_REQUEST_FIELDS)}"
        raise InvalidInputError(msg)
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        msg = "'inputs' must be a non-empty list of tensors"
        raise InvalidInputError(msg)
    columns: dict[str, list[Any]] = {}
    for index, tensor in enumerate(tensors):
        name, rows = _rows(tensor, index, inputs)
        if name in columns:
            msg = f"input {shown(name)} is given twice"
            raise InvalidInputError(msg)
        columns[name] = rows
    if missing := sorted(set(inputs) - set(columns)):
        msg = f"missing inputs {missing}; the model takes {sorted(inputs)}"
        raise InvalidInputError(msg)
    batches = {name: len(rows) for name, rows in columns.items()}
    if len(set(batches.values())) > 1:
        msg = f"inputs disagree on the batch size (their first dimension): {batches}"
        raise InvalidInputError(msg)
    batch = next(iter(batches.values()))
    return [{name: rows[i] for name, rows in columns.items()} for i in range(batch)]


def _rows(tensor: Any, index: int, inputs: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Check one input tensor and return its name and its rows (the values of the first dimension)."""
    if not isinstance(tensor, dict):
        msg = f"input {index} must be an object with 'name', 'shape', 'datatype' and 'data'"
        raise InvalidInputError(msg)
    if unknown := sorted(set(tensor) - _INPUT_FIELDS):
        msg = f"input {index}: unknown fields {shown(unknown)}"
        raise InvalidInputError(msg)
    if absent := sorted({"name", "shape", "datatype", "data"} - set(tensor)):
        msg = f"input {index}: missing {absent}"
        raise InvalidInputError(msg)
    name = tensor["name"]
    if not isinstance(name, str) or name not in inputs:
        msg = f"input {index}: unknown input {shown(name)}; the model takes {sorted(inputs)}"
        raise InvalidInputError(msg)
    spec = inputs[name]
    wanted = datatype(spec)
    if tensor["datatype"] != wanted:
        msg = f"input {name!r} has datatype {shown(tensor['datatype'])}; the model takes {wanted}"
        raise InvalidInputError(msg)
    shape = tensor["shape"]
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= _MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        msg = f"input {name!r}: 'shape' must be a list of 1 to {_MAX_RANK} non-negative integers, got {shown(shape)}"
        raise InvalidInputError(msg)
    expected = _known_dims(spec)
    if expected is not None and (
        len(shape) != len(expected) or any(e not in (-1, d) for e, d in zip(expected, shape, strict=True))
    ):
        msg = f"input {name!r} has shape {shape}; the model takes {expected} (-1: any size, the first is the batch)"
        raise InvalidInputError(msg)
    if shape[0] == 0:
        msg = f"input {name!r}: the batch (the first dimension) is empty"
        raise InvalidInputError(msg)
    data = tensor["data"]
    if not isinstance(data, list):
        msg = f"input {name!r}: 'data' must be a list, got {type(data).__name__}"
        raise InvalidInputError(msg)
    flat = _flat(data, name)
    if len(flat) != math.prod(shape):
        msg = f"input {name!r}: shape {shape} needs {math.prod(shape)} values, 'data' has {len(flat)}"
        raise InvalidInputError(msg)
    inner = shape[1:]
    size = math.prod(inner)
    return name, [_nest(flat[i * size : (i + 1) * size], inner) for i in range(shape[0])]


def _flat(data: list[Any], name: str) -> list[Any]:
    """Flatten nested lists (row-major); refuse objects, and nesting deeper than any shape allows."""
    out: list[Any] = []
    stack: list[tuple[Iterable[Any], int]] = [(iter(data), 1)]
    while stack:
        items, depth = stack[-1]
        for item in items:
            if isinstance(item, list):
                if depth >= _MAX_RANK:
                    msg = f"input {name!r}: 'data' is nested deeper than {_MAX_RANK} levels"
                    raise InvalidInputError(msg)
                stack.append((iter(item), depth + 1))
                break
            if isinstance(item, dict):
                msg = f"input {name!r}: 'data' holds an object; it holds numbers, booleans or strings"
                raise InvalidInputError(msg)
            out.append(item)
        else:
            stack.pop()
    return out


def _nest(values: list[Any], shape: Sequence[int]) -> Any:
    """Shape a row-major run of values (a scalar for shape [])."""
    if not shape:
        return values[0]
    if len(shape) == 1:
        return list(values)
    step = math.prod(shape[1:])
    return [_nest(values[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def requested_outputs(payload: Mapping[str, Any], outputs: Mapping[str, Any]) -> list[str]:
    """Return the output names the request asks for (all of the model's, sorted, if it names none).

    Raises:
        InvalidInputError: 'outputs' is malformed or names an output the model does not have.
    """
    asked = payload.get("outputs")
    if asked is None:
        return sorted(outputs)
    if not isinstance(asked, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked):
        msg = "'outputs' must be a list of objects with a 'name'"
        raise InvalidInputError(msg)
    names = [o["name"] for o in asked]
    if unknown := [n for n in names if n not in outputs]:
        msg = f"unknown outputs {shown(unknown)}; the model has {sorted(outputs)}"
        raise InvalidInputError(msg)
    return list(dict.fromkeys(names))


def output_tensors(
    predictions: Sequence[Mapping[str, Any]], names: Sequence[str], outputs: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Stack per-instance predictions into one v2 tensor per output in `names` (batch first, data flat).

    Raises:
        PredictionError: the model's rows of an output do not have one shape.
    """
    tensors = []
    for name in names:
        rows = [prediction[name] for prediction in predictions]
        shape = _shape_of(rows[0]) if rows else []
        flat: list[Any] = []
        for row in rows:
            if _shape_of(row) != shape:
                msg = f"the model failed: the rows of output {name!r} do not have one shape"
                raise PredictionError(msg)
            flat.extend(_flat([row], name) if isinstance(row, list) else [row])
        tensors.append({"name": name, "datatype": datatype(outputs[name]), "shape": [len(rows), *shape], "data": flat})
    return tensors


def _shape_of(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape
