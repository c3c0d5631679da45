"""``python -m benchmarks.serve.floor SAVED_MODEL``: the floor, a bare SavedModel call in a raw ASGI app on uvicorn.

One route, whatever the path: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out, one dict of outputs per
instance, as the local endpoint answers. Nothing else: no routing, no validation beyond what TensorFlow does, no
record to follow, no verification of the artifacts; the model is called on the event loop (a minimal app's way; the
calls are one at a time either way). uvicorn runs with the local endpoint's settings (one process, the asyncio loop,
h11, no lifespan, no access log). Prints ``serving on URL`` once it listens, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _plain(value: Any) -> Any:
    """A NumPy value as JSON-able Python (strings decoded), like the local endpoint's answers."""
    value = value.tolist() if hasattr(value, "tolist") else value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def floor_app(saved_model: str) -> Callable[[Message, Any, Any], Awaitable[None]]:
    """Load `saved_model` and return the ASGI app calling its ``serving_default`` signature."""
    import tensorflow as tf

    signature = tf.saved_model.load(saved_model).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]

    async def app(scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
                  ) -> None:  # fmt: skip
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        instances = json.loads(body)["instances"]
        tensors = {name: tf.constant([row[name] for row in instances], spec.dtype) for name, spec in inputs.items()}
        outputs = {name: tensor.numpy() for name, tensor in signature(**tensors).items()}
        predictions = [{name: _plain(array[i]) for name, array in outputs.items()} for i in range(len(instances))]
        answer = json.dumps({"predictions": predictions}).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def main() -> None:
    """Serve the SavedModel named on the command line on a free port of 127.0.0.1."""
    import uvicorn

    from registry_core.deploy.server import KEEP_ALIVE_SECONDS

    app = floor_app(sys.argv[1])
    # a TCP socket by its protocol number, as uvicorn's own binding makes it: asyncio then sets TCP_NODELAY on every
    # connection (with protocol 0 it does not, and each answer waits ~40 ms for the client's delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    print(f"serving on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    # the local endpoint's uvicorn settings (registry_core.deploy.server.PredictionServer.start)
    config = uvicorn.Config(
        app, loop="asyncio", http="h11", lifespan="off", log_config=None, access_log=False, server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
