"""Apprise provider: sends each message to the recipient's Apprise URL through the Apprise library,
in a pool of `apprise_concurrency` threads so that the event loop never blocks on it. Only schemes
in `apprise_schemes` are used; a self-hosted service's host is resolved and screened by the SSRF
guard first. Apprise's answer is a boolean, so a failure is transient (see answers.py)."""
from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future, ThreadPoolExecutor

from aiohttp.abc import AbstractResolver

from channels.answer_excerpt import AnswerExcerpt
from channels.apprise import plugin
from channels.apprise.address import scheme_of, secrets_of, shown
from channels.apprise.answers import outcome_for
from channels.apprise.log_redaction import UrlLog, install
from channels.apprise.options import AppriseOptions
from channels.apprise.settings import AppriseSettings
from channels.outbound import GuardedResolver, TargetPolicy, TargetRefused
from consumer.channel_options import read_options
from consumer.outcomes import Outcome, Permanent, Transient
from consumer.settings import Settings, SettingsError

# A plugin may make a few requests for one send (a login, then the message), each bounded by
# apprise_timeout_s; past this many timeouts the send is given up (its thread keeps its slot).
TIMEOUTS_PER_SEND = 2


class AppriseProvider:
    name = "apprise"

    def __init__(self, settings: Settings, *, resolver: AbstractResolver | None = None):
        own = settings.section(AppriseSettings)
        self.schemes = allowed_schemes(own.apprise_schemes)
        self.targets = TargetPolicy.from_setting(own.apprise_allowed_targets, "apprise_allowed_targets")
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.timeout_s = own.apprise_timeout_s
        self.concurrency = own.apprise_concurrency
        self.asset = plugin.asset()
        self.resolver = resolver  # the system resolver unless a test injects one
        install()

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(self.concurrency)
        self.threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="apprise")
        self.guard = GuardedResolver(self.targets, self.resolver)

    async def close(self) -> None:
        await self.guard.close()
        self.threads.shutdown(wait=False, cancel_futures=True)

    async def send(self, message: dict) -> Outcome:
        address = message["address"]
        scheme = scheme_of(address)
        if scheme is None:
            return Permanent("invalid_address", "not an Apprise URL")
        if scheme not in self.schemes:
            return Permanent("scheme_not_allowed", f"{scheme}:// is not one of the Apprise schemes allowed "
                                                   f"(apprise_schemes: {', '.join(sorted(self.schemes))})")
        options = read_options(AppriseOptions, message.get("options"))
        if isinstance(options, Permanent):
            return options
        log = UrlLog(secrets_of(address))
        service = plugin.service_for(address, self.asset, log, self.timeout_s)
        if service is None:
            return Permanent("invalid_address", f"Apprise cannot use this {scheme}:// URL")
        host = service.host if plugin.names_host(scheme) else None
        where = shown(scheme, host)
        if host and (refused := await self._screen(host, service.port, where)):
            return refused
        # What Apprise shows of the URL is what it masks nothing of: the rest is redacted.
        log.secrets = secrets_of(address, service.url(privacy=True))
        body, body_format = ((message["html"], "html") if message.get("html")
                             else (message.get("text") or message.get("subject") or "", options.text_format))
        result = await self._in_thread(lambda: plugin.notify(
            service, self.asset, log, title=message.get("subject") or "", body=body, body_format=body_format,
            notify_type=options.notify_type))
        if isinstance(result, Transient):
            return result
        return outcome_for(result, log.warnings, where, lambda text: self.excerpt(text, *log.secrets))

    async def _screen(self, host: str, port: int | None, where: str) -> Outcome | None:
        """The SSRF guard on the host Apprise will connect to. Apprise resolves it again itself:
        this check does not cover a DNS answer that changes in between (see the channel's page)."""
        try:
            await self.guard.resolve(host, port or 0)
        except TargetRefused as exc:
            return Permanent("target_refused", f"{where}: {exc.reason}")
        except OSError as exc:
            return Transient("apprise_unresolved", self.excerpt(f"{where}: cannot resolve its host ({exc})"))
        return None

    async def _in_thread(self, call):
        """`call()` in the pool, at most `apprise_concurrency` at once: a slot is freed when the
        thread ends, not when the wait for it is given up."""
        await self.slots.acquire()
        try:
            future: Future = self.threads.submit(call)
        except BaseException:
            self.slots.release()
            raise
        future.add_done_callback(lambda _: self._free_slot())
        wait_s = self.timeout_s * TIMEOUTS_PER_SEND
        try:
            async with asyncio.timeout(wait_s):
                return await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.TimeoutError:
            return Transient("apprise_timeout", f"Apprise did not finish within {wait_s:g}s")

    def _free_slot(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while a thread still ran
            self.loop.call_soon_threadsafe(self.slots.release)


def allowed_schemes(text: str) -> frozenset[str]:
    """The `apprise_schemes` setting: comma-separated schemes Apprise knows; SettingsError otherwise."""
    schemes = frozenset(s.strip().lower().removesuffix("://") for s in text.split(",") if s.strip())
    unknown = sorted(s for s in schemes if not plugin.known(s))
    if unknown or not schemes:
        raise SettingsError(f"setting apprise_schemes: {', '.join(unknown) or repr(text)} is not an Apprise "
                            "scheme this Apprise knows")
    return schemes
