"""``make bench-serve``: the local prediction server against a bare SavedModel call in a minimal ASGI app."""
