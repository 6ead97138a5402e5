"""A template render worker: a child process of the router, the gateway or the CLI
(router/render_pool.py). Reads requests from stdin, writes one JSON line per rendered part.

  python -m router.render_worker MAX_OUTPUT_BYTES MAX_RENDER_S MEMORY_MB

Protocol, one JSON document per line: the worker first writes {"ready": true}; each request is
{"contexts": [...], "parts": [[where, channel, part, source, context index], ...]} and gets, in
order, one {"ok": rendered} or {"error": [kind, detail, where, line]} per part. JSON both ways, so
a worker can never hand its parent anything but data."""
from __future__ import annotations

import json
import os
import resource
import sys

from router.templates import RenderError, Renderer


def limit_memory(extra_mb: int) -> None:
    """Cap the address space at what the worker uses now plus `extra_mb`: a render that needs
    more gets a MemoryError (reported as output_too_large), not the machine's memory."""
    if extra_mb <= 0:
        return
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = in_use + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


def serve(renderer: Renderer, requests, replies) -> None:
    def write(document: dict) -> None:
        replies.write(json.dumps(document).encode() + b"\n")  # ASCII: lone surrogates in data survive
        replies.flush()

    write({"ready": True})
    for line in requests:
        request = json.loads(line)
        contexts = request["contexts"]
        for where, channel, part, source, index in request["parts"]:
            try:
                write({"ok": renderer.render_source(channel, part, source, contexts[index], where)})
            except RenderError as exc:
                write({"error": [exc.kind, exc.detail, exc.where, exc.line]})


def main(argv: list[str]) -> None:
    max_output_bytes, max_render_s, memory_mb = int(argv[0]), float(argv[1]), int(argv[2])
    renderer = Renderer(max_output_bytes, max_render_s)
    limit_memory(memory_mb)
    serve(renderer, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main(sys.argv[1:])
