"""The router's personalisation step, between decoding and publishing: fill in the recipient from
the directory, suppress opted-out channels and addresses on their tenant's suppression list, hold
scheduled sends, deliveries in the recipient's quiet hours and later channel fallback steps
(router/fallback.py), render templates. One Postgres query per table per batch."""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass

import psycopg

from consumer.channel_specs import spec_of
from consumer.events import Clock, channel_content, utcnow
from consumer.postgres import connect
from consumer.settings import Settings
from router.fanout import Delivery, fan_out
from router.preferences import Preferences, opted_out
from router.fallback import step_channels, step_holds
from router.quiet_hours import hold_for
from router.devices import DeviceDirectory, device_channels
from router.recipients import RecipientDirectory, resolve
from router.suppressions import SuppressionList, listed_key, screened
from router.render_pool import RenderPool
from router.template_cache import TemplateCache
from router.template_store import TemplateStore
from router.templates import RenderError, Template, template_context

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What to do with one event: its deliveries, or, when a template failed to render, nothing
    but dead-letter the whole notification (`failure`) so no channel gets a half-rendered message."""

    deliveries: list[Delivery]
    failure: RenderError | None = None
    # Renders still to do: (index into deliveries, template, channel, locale, context).
    renders: list[tuple[int, Template, str, str | None, dict]] = dataclasses.field(default_factory=list, repr=False)


class Personalizer:
    def __init__(self, conn: psycopg.Connection | None, settings: Settings, clock: Clock = utcnow):
        self.settings = settings
        self.clock = clock
        # Renders run in worker processes, outside the lock: a runaway one holds nothing else up.
        self.renderer = RenderPool.from_settings(settings)
        self.critical = frozenset(c.strip() for c in settings.critical_categories.split(",") if c.strip())
        self._attach(conn)
        # Batches are handled concurrently; the connection and the template cache are not thread-safe.
        self._lock = threading.Lock()

    def _attach(self, conn: psycopg.Connection | None) -> None:
        self.conn = conn
        if conn is not None:
            self.directory = RecipientDirectory(conn)
            self.devices = DeviceDirectory(conn)
            self.preferences = Preferences(conn, self.critical)
            self.suppressions = SuppressionList(conn)
            self.templates = TemplateCache(TemplateStore(conn, self.renderer), self.settings.template_cache_ttl_s)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utcnow) -> "Personalizer":
        """Without a database the router still fans out inline content; templates cannot render."""
        if not settings.database_url:
            return cls(None, settings, clock)
        return cls(connect(settings.database_url), settings, clock)

    def close(self) -> None:
        self.renderer.close()
        if self.conn is not None:
            self.conn.close()

    def plan(self, events: list[dict]) -> list[Plan]:
        """Blocking (Postgres, then the render workers): look_up, then render."""
        return self.render(self.look_up(events))

    def render(self, plans: list[Plan]) -> list[Plan]:
        """The plans with their templates rendered (blocking, the render workers): apart from
        look_up, so that a slow render holds no other batch's lookups."""
        return self._render(plans)

    def look_up(self, events: list[dict]) -> list[Plan]:
        """The plans before rendering. Blocking (Postgres); the router runs it in a thread. It has
        no side effects, so after a dropped connection it reconnects and looks up again once; a
        second failure raises (an outage: the runtime holds the router and retries the batch with
        backoff)."""
        with self._lock:
            try:
                plans = self._plan(events)
            except psycopg.OperationalError as exc:
                if not self.settings.database_url:
                    raise
                log.warning("router database connection lost (%s); reconnecting", type(exc).__name__)
                self.conn.close()
                self._attach(connect(self.settings.database_url))
                plans = self._plan(events)
        return plans

    def _plan(self, events: list[dict]) -> list[Plan]:
        ids = [e["recipient"]["id"] for e in events]
        stored = self.directory.lookup(ids) if self.conn is not None else {}
        prefs = self.preferences.lookup(ids) if self.conn is not None else {}
        quiet = self.preferences.quiet_lookup(ids) if self.conn is not None else {}
        with_devices = [e["recipient"]["id"] for e in events if set(step_channels(e)).intersection(device_channels())]
        devices = self.devices.lookup(with_devices) if self.conn is not None else {}
        now = self.clock()
        fanned = [self._fan_out(e, stored.get(e["recipient"]["id"]), prefs.get(e["recipient"]["id"], []),
                                devices.get(e["recipient"]["id"], {}), quiet.get(e["recipient"]["id"], {}), now)
                  for e in events]
        if self.conn is None:
            return [self._plan_one(event, deliveries) for event, deliveries in fanned]
        # The addresses are known only now (inline, directory, devices): one lookup for the batch.
        keys = [listed_key(d.message) for _, deliveries in fanned for d in deliveries
                if d.refusal is None and d.suppressed is None]
        listed = self.suppressions.lookup([k for k in keys if k is not None])
        return [self._plan_one(event, screened(deliveries, listed) if listed else deliveries)
                for event, deliveries in fanned]

    def _fan_out(self, event: dict, stored: dict | None, prefs: list[dict], devices: dict, quiet: dict,
                 now) -> tuple[dict, list[Delivery]]:
        """The event with its resolved recipient (its time zone from the directory too), and its
        deliveries: the opted-out ones suppressed, the scheduled or quiet ones held."""
        recipient = resolve(event["recipient"], stored)  # a dict of its own
        recipient["devices"] = devices
        event = {**event, "recipient": recipient}
        steps = step_holds(event, quiet, now, self.critical)  # a fallback's later steps wait their turn
        deliveries = []
        for delivery in fan_out({**event, "channels": step_channels(event)} if event.get("fallback") else event):
            if delivery.refusal is None and delivery.suppressed is None and event["category"] not in self.critical \
                    and opted_out(prefs, delivery.channel, event["category"]):
                delivery = dataclasses.replace(delivery, suppressed="opted_out",
                                               detail=f"recipient opted out of {delivery.channel} / {event['category']}")
            if delivery.refusal is None and delivery.suppressed is None:
                hold = steps.get(delivery.channel) or hold_for(event, delivery.channel, quiet, now, self.critical)
                delivery = dataclasses.replace(delivery, hold=hold) if hold is not None else delivery
            deliveries.append(delivery)
        return event, deliveries

    def _plan_one(self, event: dict, deliveries: list[Delivery]) -> Plan:
        recipient = event["recipient"]
        plan = Plan(deliveries)
        try:
            for index, delivery in enumerate(deliveries):
                ref = channel_content(event["content"], delivery.channel).get("template")
                if ref is not None and delivery.refusal is None and delivery.suppressed is None:
                    template, context = self._template(ref, event, recipient)
                    plan.renders.append((index, template, delivery.channel, recipient.get("locale"), context))
        except RenderError as exc:
            return Plan(deliveries, exc)
        return plan

    def _template(self, ref: dict, event: dict, recipient: dict) -> tuple[Template, dict]:
        if self.conn is None:
            raise RenderError("template_not_found", "templates need TIDINGS_DATABASE_URL in the router")
        template = self.templates.get(ref["name"], ref.get("version"))
        try:
            data = json.loads(event["data"] or "{}")
        except ValueError as exc:
            raise RenderError("invalid_data", f"data is not JSON: {exc}") from None
        return template, template_context(data if isinstance(data, dict) else {}, recipient, event)

    def _render(self, plans: list[Plan]) -> list[Plan]:
        """Every pending render of the batch in one round trip to a render worker; an event with a
        part that failed delivers nothing (its first failure is the plan's)."""
        pending = [r[1:] for plan in plans if plan.failure is None for r in plan.renders]
        outcomes = iter(self.renderer.render_many(pending) if pending else [])
        done = []
        for plan in plans:
            deliveries, failure = list(plan.deliveries), plan.failure
            for index, template, *_ in plan.renders if failure is None else []:
                parts = next(outcomes)
                if isinstance(parts, RenderError):
                    failure = failure or parts
                elif failure is None:
                    message = apply(deliveries[index].message, parts, template.ref)
                    deliveries[index] = dataclasses.replace(deliveries[index], message=message)
            done.append(Plan(plan.deliveries if failure else deliveries, failure))
        return done


# Parts that are ChannelMessage fields of their own; every other part travels in its options.
MESSAGE_FIELDS = ("subject", "text", "html")


def apply(message: dict, parts: dict, ref: str) -> dict:
    """The ChannelMessage with its rendered parts: subject, text and html in their fields, a webhook
    body in `data` (options.body = "data"), and any other part (Slack's blocks, a Teams card, a
    plugin's own) in options under its part name, where the channel reads it."""
    message = {**message, "template": ref}
    options = json.loads(message.get("options") or "{}")
    for name, value in parts.items():
        if name in MESSAGE_FIELDS:
            message[name] = value
        elif name == "body" and spec_of(message["channel"]).part(name).kind == "json":  # a webhook's body
            message["data"] = json.dumps(value, separators=(",", ":"))
            options["body"] = "data"
        else:
            options[name] = value
    message["options"] = json.dumps(options, separators=(",", ":"))
    return message
