"""A render worker for tests of router/render_pool.py that misbehaves on demand, in ways no template
can (the sandbox bounds every operation): a part whose source contains STUCK blocks in one call the
budget check never reaches, EXIT ends the process, HOG allocates a gigabyte.

  python -m tests.router.stuck_render_worker MAX_OUTPUT_BYTES MAX_RENDER_S MEMORY_MB"""
from __future__ import annotations

import os
import sys
import time

from router.render_worker import limit_memory, serve
from router.templates import RenderError, Renderer


class Misbehaving(Renderer):
    def render_source(self, channel, part, source, context, where=""):
        if "STUCK" in source:
            time.sleep(3600)
        if "EXIT" in source:
            os._exit(3)
        if "HOG" in source:
            try:
                bytearray(1 << 30)
            except MemoryError:
                raise RenderError("output_too_large", "the render ran out of memory", where) from None
            return "allocated a gigabyte"
        return super().render_source(channel, part, source, context, where)


if __name__ == "__main__":
    max_output_bytes, max_render_s, memory_mb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    renderer = Misbehaving(max_output_bytes, max_render_s)
    limit_memory(memory_mb)
    serve(renderer, sys.stdin.buffer, sys.stdout.buffer)
