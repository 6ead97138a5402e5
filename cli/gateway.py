"""`tidings run gateway` (the HTTP gateway on uvicorn; SIGTERM or Ctrl-C finishes the requests in
flight, flushes the producer and exits 0) and `tidings gateway openapi` (no broker, no database)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys

from consumer import service as runtime
from consumer.settings import Settings, SettingsError
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def gateway_settings(settings: Settings) -> GatewaySettings:
    """The gateway's own settings (for `tidings config show`, which may not import the gateway)."""
    return settings.section(GatewaySettings)


def run_gateway(settings: Settings) -> int:
    try:  # the `gateway` extra: `config show` and `docs render` import this module without it
        import uvicorn

        from gateway.app import create_app
    except ModuleNotFoundError as exc:
        print(f"tidings: the gateway needs {exc.name}, which is not installed: pip install 'tidings[gateway]'",
              file=sys.stderr)
        return 2

    runtime.configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except SettingsError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    # Access logs stay off: unsubscribe links carry their token in the query string. Keep-alive
    # outlasts the 60 s idle timeout of common load balancers, which otherwise reuse a connection
    # the gateway has just closed (a 502 for the caller).
    config = uvicorn.Config(app, host=settings.section(GatewaySettings).gateway_host, port=settings.section(GatewaySettings).gateway_port, lifespan="on",
                            log_config=None, access_log=False, timeout_keep_alive=75,
                            timeout_graceful_shutdown=settings.shutdown_grace_s)
    server = gateway_server(config)
    asyncio.run(server.serve())
    return 0 if server.started else 1


def gateway_server(config):
    """uvicorn re-raises SIGTERM once it has shut down (exit status -15); a Tidings service stops
    accepting, finishes the requests in flight, flushes its producer and exits 0. (A class made
    here, not at import: uvicorn is imported only by the command that serves.)"""
    import uvicorn

    class GatewayServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop, sig)
            try:
                yield
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

        def _stop(self, sig: signal.Signals) -> None:
            log.info("gateway: %s received, finishing requests in flight", signal.Signals(sig).name)
            self.force_exit = self.should_exit and sig == signal.SIGINT  # a second Ctrl-C: now
            self.should_exit = True

    return GatewayServer(config)


def openapi_command(settings: Settings) -> int:
    from gateway.app import create_app

    # The document does not depend on connections; only a database URL is required to build the app.
    app = create_app(settings.replace(database_url=settings.database_url or "postgresql://unused"))
    print(json.dumps(app.openapi(), indent=2))
    return 0
