"""The OpenAPI 3.1 document of the prediction server: Vertex-style predict, health, KServe v2 and SageMaker routes."""

from __future__ import annotations

from typing import Any

from registry_core.monitoring.feedback import MAX_FEEDBACK_ITEMS

MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest request body the server accepts by default (413 above)."""
PREDICTION_IDS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "description": "One opaque id per instance, in order: what feedback refers to (POST ...:feedback).",
}


def openapi_document(
    endpoint_name: str, instance_schema: dict[str, Any], url: str | None = None, max_body_bytes: int = MAX_BODY_BYTES
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of the prediction server for `endpoint_name`.

    Args:
        endpoint_name: The endpoint served.
        instance_schema: JSON schema of one instance (from a loaded model's inputs).
        url: The server's URL, listed under ``servers`` when given.
        max_body_bytes: The server's body limit, for the 413 answers.
    """
    error = {"$ref": "#/components/schemas/Error"}
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": error}}}
        for code, text in (
            (400, "Malformed JSON, bad 'instances', or instances that do not fit the model's inputs."),
            (404, "Unknown endpoint or deployed model."),
            (405, "Wrong method."),
            (413, f"Request body above {max_body_bytes} bytes."),
            (500, "The model failed on valid input."),
            (503, "Nothing can serve (no model gets traffic, or it could not be loaded)."),
        )
    }
    predict = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
        },
        "responses": {
            "200": {
                "description": "One prediction per instance.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictResponse"}}},
            },
            **errors,
        },
    }
    endpoint_param = {
        "name": "endpoint",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [endpoint_name]},
    }
    deployed_param = {"name": "deployedModelId", "in": "path", "required": True, "schema": {"type": "string"}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"Prediction server of endpoint {endpoint_name}",
            "version": "1",
            "description": "Serves the versions the endpoint's record in the model registry lists, routed by "
            "its traffic split, in Vertex AI's request and response shapes, KServe's Open Inference Protocol v2 "
            "(/v2/..., where a model is a registry model name) and SageMaker's container contract (/ping, "
            "/invocations: this endpoint, routed by its split).",
        },
        "paths": {
            "/v1/endpoints/{endpoint}:predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predict, routed by the endpoint's traffic split.",
                    "parameters": [endpoint_param],
                    **predict,
                }
            },
            "/v1/endpoints/{endpoint}/deployedModels/{deployedModelId}:predict": {
                "post": {
                    "operationId": "predictDeployedModel",
                    "summary": "Predict with one deployed model of the endpoint.",
                    "parameters": [endpoint_param, deployed_param],
                    **predict,
                }
            },
            "/v1/endpoints/{endpoint}:feedback": _feedback_path(endpoint_param, errors),
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "What serves, what loaded and what was refused.",
                    "responses": {
                        code: {
                            "description": text,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        }
                        for code, text in (("200", "Something serves."), ("503", "Nothing can serve."))
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}}},
                }
            },
            **_sagemaker_paths(errors),
            **_v2_paths(max_body_bytes),
        },
        "components": {
            "schemas": {
                "Instance": instance_schema,
                "PredictRequest": {
                    "type": "object",
                    "required": ["instances"],
                    "additionalProperties": False,
                    "properties": {
                        "instances": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Instance"},
                        },
                        "parameters": {"type": "object", "description": "Accepted for Vertex compatibility."},
                    },
                },
                "PredictResponse": {
                    "type": "object",
                    "required": ["predictions", "deployedModelId", "modelVersion", "model", "predictionIds"],
                    "properties": {
                        "predictionIds": PREDICTION_IDS,
                        "predictions": {
                            "type": "array",
                            "items": {"type": "object", "description": "The signature's outputs by name."},
                        },
                        "deployedModelId": {"type": "string"},
                        "modelVersion": {"type": "string"},
                        "model": {"type": "string", "description": "Registry model name."},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "endpoint", "traffic", "deployedModels"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "endpoint": {"type": "string"},
                        "traffic": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "deployedModels": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "model", "version", "traffic", "loaded", "error"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "model": {"type": "string"},
                                    "version": {"type": "string"},
                                    "traffic": {"type": "integer"},
                                    "loaded": {"type": "boolean"},
                                    "error": {"type": ["string", "null"]},
                                },
                            },
                        },
                        "refreshError": {"type": "string"},
                        "predictionLog": {
                            "type": "object",
                            "description": "Prediction logging: enabled, sampleRate and counts of records logged, "
                            "written, pending, sampledOut, dropped (queue full), overHourlyCap and failed (a write "
                            "failed), with lastError; or enabled false and the reason.",
                        },
                    },
                },
                **_FEEDBACK_SCHEMAS,
                **_V2_SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "type", "message"],
                            "properties": {
                                "code": {"type": "integer", "description": "The HTTP status."},
                                "type": {"type": "string", "description": "Error class, e.g. InvalidInputError."},
                                "message": {"type": "string", "description": "One line for a person."},
                            },
                        }
                    },
                },
            }
        },
    }
    if url is not None:
        document["servers"] = [{"url": url}]
    return document


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _feedback_path(endpoint_param: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    refused = {code: answer for code, answer in errors.items() if code in {"400", "404", "413"}}
    return {
        "post": {
            "operationId": "feedback",
            "summary": "Ground truth for served predictions, by prediction id (kept even for ids never logged).",
            "parameters": [endpoint_param],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}},
            },
            "responses": {
                "200": _json("FeedbackResponse", "The labels were stored."),
                **refused,
                "503": {
                    "description": "Not stored: the registry's storage failed, or there is none (a serving container "
                    "without REGISTRY_ROOT).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        }
    }


_FEEDBACK_SCHEMAS: dict[str, Any] = {
    "FeedbackRequest": {
        "type": "object",
        "required": ["feedback"],
        "additionalProperties": False,
        "properties": {
            "feedback": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_FEEDBACK_ITEMS,
                "items": {
                    "type": "object",
                    "required": ["prediction_id", "label"],
                    "additionalProperties": False,
                    "properties": {
                        "prediction_id": {"type": "string", "minLength": 1, "maxLength": 128},
                        "label": {
                            "oneOf": [{"type": "string", "minLength": 1, "maxLength": 256}, {"type": "number"}],
                            "description": "The true class name, or a number.",
                        },
                    },
                },
            }
        },
    },
    "FeedbackResponse": {
        "type": "object",
        "required": ["accepted"],
        "properties": {"accepted": {"type": "integer", "description": "How many labels were stored."}},
    },
}


def _sagemaker_paths(errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "/ping": {
            "get": {
                "operationId": "ping",
                "summary": "SageMaker's health check: 200 when something serves.",
                "responses": {
                    "200": _json("Health", "Something serves."),
                    "503": _json("Health", "Nothing can serve."),
                },
            }
        },
        "/invocations": {
            "post": {
                "operationId": "invocations",
                "summary": "SageMaker's inference call: this server's endpoint, routed by its traffic split.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
                },
                "responses": {
                    "200": _json("InvocationsResponse", "One prediction per instance."),
                    **{code: answer for code, answer in errors.items() if code != "405"},
                },
            }
        },
    }


def _v2_paths(max_body_bytes: int) -> dict[str, Any]:
    model = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
    failures = {
        str(code): _json("V2Error", text)
        for code, text in (
            (400, "A request that is not a v2 request for the model's inputs."),
            (404, "The model (or version) is not served here."),
            (413, f"Request body above {max_body_bytes} bytes."),
            (500, "The model failed on valid input."),
            (503, "The model cannot serve (not loaded, or no traffic)."),
        )
    }
    paths: dict[str, Any] = {
        "/v2": {"get": {"operationId": "v2ServerMetadata", "summary": "Server metadata.",
                        "responses": {"200": _json("V2ServerMetadata", "Server metadata.")}}},
        "/v2/health/live": {"get": {"operationId": "v2Live", "summary": "The server is up.",
                                    "responses": {"200": {"description": "Live."}}}},
        "/v2/health/ready": {"get": {"operationId": "v2Ready", "summary": "Something serves.",
                                     "responses": {"200": {"description": "Ready."},
                                                   "503": {"description": "Nothing can serve."}}}},
    }  # fmt: skip
    for prefix, parameters, suffix in (
        ("/v2/models/{model}", [model], ""),
        ("/v2/models/{model}/versions/{version}", [model, version], "Version"),
    ):
        paths[prefix] = {
            "get": {
                "operationId": f"v2ModelMetadata{suffix}",
                "summary": "The registry model's versions served here, and its inputs and outputs once loaded.",
                "parameters": parameters,
                "responses": {"200": _json("V2ModelMetadata", "Model metadata."), "404": failures["404"]},
            }
        }
        paths[f"{prefix}/ready"] = {
            "get": {
                "operationId": f"v2ModelReady{suffix}",
                "summary": "The model (version) is loaded and can answer.",
                "parameters": parameters,
                "responses": {"200": _json("V2Ready", "Ready."), "503": _json("V2Ready", "Not ready."),
                              "404": failures["404"]},
            }
        }  # fmt: skip
        paths[f"{prefix}/infer"] = {
            "post": {
                "operationId": f"v2Infer{suffix}",
                "summary": "Infer: routed by the traffic split among the model's deployments, or to that version.",
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V2InferRequest"}}},
                },
                "responses": {"200": _json("V2InferResponse", "One output tensor per output."), **failures},
            }
        }
    return paths


_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "description": "FP32, INT64, BYTES, BOOL..."},
        "parameters": {"type": "object"},
        "data": {"type": "array", "description": "Row-major values, flat or nested as the shape says."},
    },
}
_TENSOR_METADATA = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}, "description": "-1 for any size."},
    },
}
_V2_SCHEMAS: dict[str, Any] = {
    "InvocationsResponse": {
        "type": "object",
        "required": ["predictions", "predictionIds"],
        "properties": {"predictions": {"type": "array", "items": {"type": "object"}}, "predictionIds": PREDICTION_IDS},
    },
    "V2Tensor": _TENSOR,
    "V2InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/V2Tensor"}},
            "outputs": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            },
        },
    },
    "V2InferResponse": {
        "type": "object",
        "required": ["model_name", "model_version", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string", "description": "The registry version that answered."},
            "id": {"type": "string"},
            "parameters": {
                "type": "object",
                "required": ["predictionIds"],
                "properties": {"predictionIds": PREDICTION_IDS},
            },
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2Tensor"}},
        },
    },
    "V2ModelMetadata": {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR_METADATA},
            "outputs": {"type": "array", "items": _TENSOR_METADATA},
        },
    },
    "V2ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "V2Ready": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "V2Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
}


def container_paths(model_name: str, predict: str | None, health: str | None) -> dict[str, Any]:
    """The paths a serving container adds: Vertex AI's configured routes (when given) and KServe's v1 protocol.

    Args:
        model_name: The name KServe's v1 routes answer to.
        predict: Vertex's predict route, or None.
        health: Vertex's health route, or None.
    """
    request = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
    }
    refused = {code: _json("Error", text) for code, text in (("400", "Bad instances."), ("503", "Not loaded yet."))}
    model_param = {"name": "model", "in": "path", "required": True, "schema": {"type": "string", "enum": [model_name]}}
    ready = {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    }
    paths: dict[str, Any] = {
        "/v1/models": {
            "get": {
                "operationId": "kserveV1Models",
                "summary": "KServe v1: the model served.",
                "responses": {"200": {"description": '{"models": [name]}', "content": {"application/json": {}}}},
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "kserveV1ModelReady",
                "summary": "KServe v1: whether the model is loaded (503 until it is).",
                "parameters": [model_param],
                "responses": {
                    code: {"description": text, "content": {"application/json": {"schema": ready}}}
                    for code, text in (("200", "Loaded."), ("503", "Still loading."))
                },
            }
        },
        "/v1/models/{model}:predict": {
            "post": {
                "operationId": "kserveV1Predict",
                "summary": "KServe v1: one prediction per instance.",
                "parameters": [model_param],
                "requestBody": request,
                "responses": {"200": _json("InvocationsResponse", "One prediction per instance."), **refused},
            }
        },
    }
    if predict is not None:
        vertex_answer = {
            "type": "object",
            "required": ["predictions", "deployedModelId", "predictionIds"],
            "properties": {
                "predictions": {"type": "array", "items": {"type": "object"}},
                "deployedModelId": {"type": "string"},
                "predictionIds": PREDICTION_IDS,
            },
        }
        paths[predict] = {
            "post": {
                "operationId": "vertexPredict",
                "summary": "Vertex AI's predict route (AIP_PREDICT_ROUTE).",
                "requestBody": request,
                "responses": {
                    "200": {"description": "Predictions.", "content": {"application/json": {"schema": vertex_answer}}},
                    **refused,
                },
            }
        }
    if health is not None:
        paths[health] = {
            "get": {
                "operationId": "vertexHealth",
                "summary": "Vertex AI's health route (AIP_HEALTH_ROUTE): 200 once the model serves.",
                "responses": {"200": _json("Health", "Serving."), "503": _json("Health", "Not serving yet.")},
            }
        }
    return paths
