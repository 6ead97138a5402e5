"""`tidings run gateway` (the HTTP gateway on uvicorn; SIGTERM or Ctrl-C finishes the requests in
flight, flushes the producer and exits 0) and `tidings gateway openapi` (no broker, no database)."""
from __future__ import annotations

import asyncio
import json
import sys

from consumer import service as runtime
from consumer.settings import Settings, SettingsError


def run_gateway(settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app

    runtime.configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except SettingsError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(app, host=settings.gateway_host, port=settings.gateway_port, lifespan="on",
                            log_config=None, access_log=False, timeout_graceful_shutdown=settings.shutdown_grace_s)
    server = uvicorn.Server(config)
    asyncio.run(server.serve())  # uvicorn handles SIGTERM/SIGINT: stop accepting, finish, run the shutdown
    return 0 if server.started else 1


def openapi_command(settings: Settings) -> int:
    from gateway.app import create_app

    # The document does not depend on connections; only a database URL is required to build the app.
    app = create_app(settings.replace(database_url=settings.database_url or "postgresql://unused"))
    print(json.dumps(app.openapi(), indent=2))
    return 0
