"""The inbox's feed API, mounted by the gateway (ChannelSpec.gateway_routes): a recipient's items
with cursor pagination and filters, unread/unseen counts, marks one by one or all at once, a live
Server-Sent Events stream, and the `<tidings-inbox>` bell with its demo page. Every call carries a
feed token (channels/inapp/tokens.py), never a gateway token."""
from __future__ import annotations

import asyncio
import collections
import json
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from channels.inapp.inbox import MARKS, MARKS_FOR_ALL, RECORDED, Inbox, Reader
from channels.inapp.live import CLOSED, RESYNC, LiveInbox, StreamRefused
from channels.inapp.metrics import InboxMetrics
from channels.inapp.settings import InappSettings
from channels.inapp.tokens import FeedTokens, TokenRefused
from consumer.events import DELIVERY, delivery_event

STATIC = Path(__file__).parent / "static"
# What the gateway serves under /inbox/: the bell and its demo page.
FILES = {"tidings-inbox.js": "text/javascript", "demo": "text/html"}
FILE_NAMES = {"demo": "inbox-demo.html"}
CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:"
# Resumed streams get at most this many missed items; older ones are in the feed's pages.
MAX_RESUME = 200


class Feed:
    """What the routes share, built when the gateway starts."""

    def __init__(self, gateway):
        own = gateway.settings.section(InappSettings)
        self.gateway = gateway
        self.tokens = FeedTokens(gateway.settings)
        self.page_max = own.inapp_page_max
        self.keepalive_s = own.inapp_stream_keepalive_s
        self.idle_s = own.inapp_stream_idle_s
        self.live = LiveInbox(gateway.settings.database_url, gateway.pool, own.inapp_stream_max_per_recipient,
                              own.inapp_stream_max_total)
        self.metrics = InboxMetrics(gateway.metrics.registry)


@asynccontextmanager
async def live_updates(app: FastAPI):
    """Inside the gateway's own lifespan (its pool is open): listen for inbox changes."""
    feed = app.state.inbox = Feed(app.state.gateway)
    listener = asyncio.create_task(feed.live.run())
    try:
        yield
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


router = APIRouter(tags=["inbox"], lifespan=live_updates)


def reader_of(request: Request) -> Reader:
    try:
        return request.app.state.inbox.tokens.reader(request.headers.get("authorization"))
    except TokenRefused as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


Me = Depends(reader_of)


def item_id_of(item_id: str) -> str:
    try:
        return str(uuid.UUID(item_id))
    except ValueError:
        raise HTTPException(404, f"no inbox item {item_id[:80]!r}") from None


def _json(value: dict) -> Response:
    """The answer encoded here: FastAPI's generic encoder costs about ten times json's on a page."""
    return Response(json.dumps(value, separators=(",", ":"), ensure_ascii=False), media_type="application/json")


@router.get("/v1/inbox/items", name="inbox.items", response_class=Response,
            responses={200: {"content": {"application/json": {}},
                             "description": "{\"items\": [...], \"next_cursor\": \"...\" or null}"}})
async def items(request: Request, reader: Reader = Me, limit: int = Query(20, ge=1),
                cursor: str | None = Query(None, pattern=r"^\d{1,18}$"), unread: bool | None = None,
                category: str | None = Query(None, max_length=256), archived: bool = False) -> Response:
    """The recipient's items, newest first; `next_cursor` fetches the next (older) page."""
    feed: Feed = request.app.state.inbox
    async with feed.gateway.pool.connection() as conn:
        page = await Inbox(conn).page(reader, min(limit, feed.page_max), int(cursor) if cursor else None,
                                      unread, category, archived)
    return _json({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/v1/inbox/counts", name="inbox.counts")
async def counts(request: Request, reader: Reader = Me) -> dict:
    """Unread and unseen items, archived ones left out."""
    async with request.app.state.inbox.gateway.pool.connection() as conn:
        return await Inbox(conn).counts(reader)


@router.post("/v1/inbox/items/{item_id}/{state}", name="inbox.mark")
async def mark_one(request: Request, item_id: str, state: str, reader: Reader = Me) -> dict:
    """Mark one item seen, read, unread, archived or unarchived; the item as it is now."""
    if state not in MARKS:
        raise HTTPException(404, f"no mark {state[:40]!r} (marks: {', '.join(MARKS)})")
    item_id = item_id_of(item_id)
    request.state.target = item_id
    feed: Feed = request.app.state.inbox
    async with feed.gateway.pool.connection() as conn:
        await _mark(feed, conn, reader, state, item_id)
        item = await Inbox(conn).item(reader, item_id)
    if item is None:
        raise HTTPException(404, f"no inbox item {item_id}")
    return item


@router.post("/v1/inbox/all/{state}", name="inbox.mark_all")
async def mark_all(request: Request, state: str, reader: Reader = Me) -> dict:
    """Mark every item (archived ones left out) seen, read or archived; how many changed."""
    if state not in MARKS_FOR_ALL:
        raise HTTPException(404, f"no mark {state[:40]!r} for all items (marks: {', '.join(MARKS_FOR_ALL)})")
    feed: Feed = request.app.state.inbox
    async with feed.gateway.pool.connection() as conn:
        return {"changed": await _mark(feed, conn, reader, state)}


async def _mark(feed: Feed, conn, reader: Reader, state: str, item_id: str | None = None) -> int:
    """Change the rows and record seen/read/archived as DeliveryEvents; the change commits only once
    the broker acknowledged them (503 and nothing changed otherwise)."""
    gateway, at = feed.gateway, feed.gateway.clock()
    async with conn.transaction():
        changed = await Inbox(conn).mark(reader, state, at, item_id)
        if state in RECORDED and changed:
            events = [_event(row, state, at) for row in changed]
            try:
                await asyncio.gather(*(gateway.publisher.publish(gateway.topics.deliveries,
                                                                 gateway.codec.encode(DELIVERY, event),
                                                                 key=event["delivery_id"]) for event in events))
            except Exception as exc:
                raise HTTPException(503, f"the delivery log did not take the change ({exc}); nothing changed",
                                    headers={"Retry-After": "5"}) from None
    feed.metrics.marks.labels(state).inc(len(changed))
    return len(changed)


def _event(row: dict, state: str, at) -> dict:
    delivery = {"delivery_id": str(row["delivery_id"]), "notification_id": str(row["notification_id"]),
                "channel": "inapp", "priority": row["priority"], "recipient_id": row["recipient_id"],
                "source": row["source"], "tenant": row["tenant"], "category": row["category"], "attempt": 1}
    # One event per change: read, unread and read again is two reads, each recorded once.
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"tidings:inbox/{delivery['delivery_id']}/{state}/{at.isoformat()}")
    return delivery_event(delivery, state, clock=lambda: at, provider="inbox", event_id=str(event_id))


@router.get("/v1/inbox/stream", name="inbox.stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"},
                       429: {"description": "too many streams open"}})
async def stream(request: Request, reader: Reader = Me) -> StreamingResponse:
    """New items (`item`, id = the item's seq), changes made elsewhere (`state`) and the counts
    (`counts`, first and after every change). Send Last-Event-ID to get what was missed."""
    feed: Feed = request.app.state.inbox
    resume = request.headers.get("last-event-id", "").strip()
    try:
        live = feed.live.subscribe(reader)  # before reading what was missed: nothing falls between
    except StreamRefused as exc:
        feed.metrics.refused.inc()
        raise HTTPException(429, str(exc), headers={"Retry-After": "10"}) from None
    feed.metrics.streams.inc()

    async def events():
        after = int(resume) if resume.isdigit() and len(resume) < 19 else None
        sent = SentItems()
        try:
            # A fresh stream starts after the newest item, so that a resync (the listener lost
            # Postgres for a while) sends what arrived meanwhile.
            missed, counted = await _catch_up(feed, reader, after)
            after = max([after or 0, *(item["seq"] for item in missed)]) if after is not None else None
            if after is None:
                async with feed.gateway.pool.connection() as conn:
                    after = await Inbox(conn).latest(reader)
            yield "retry: 2000\n\n"
            for item in sent.new(missed):
                yield _sse("item", item, item["seq"])
            yield _sse("counts", counted)
            quiet = 0.0
            while True:
                try:
                    async with asyncio.timeout(feed.keepalive_s):
                        kind, data = await live.queue.get()
                except TimeoutError:
                    quiet += feed.keepalive_s
                    if quiet >= feed.idle_s:
                        return  # idle: the client reconnects when it wants more
                    yield ": keepalive\n\n"
                    continue
                quiet = 0.0
                if (kind, data) == CLOSED:
                    return
                if (kind, data) == RESYNC:
                    missed, counted = await _catch_up(feed, reader, max(after, sent.newest))
                    for item in sent.new(missed):
                        yield _sse("item", item, item["seq"])
                    yield _sse("counts", counted)
                elif kind == "item":
                    for item in sent.new([data]):
                        yield _sse("item", item, item["seq"])
                else:
                    yield _sse(kind, data)
        finally:
            feed.live.unsubscribe(live)
            feed.metrics.streams.dec()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class SentItems:
    """The items one stream sent, by seq: an item both read from Postgres (a resume, a resync) and
    announced goes out once. Not a high-water mark: items of one inbox may commit out of order."""

    KEEP = 1024

    def __init__(self) -> None:
        self.seqs: set[int] = set()
        self.order: collections.deque[int] = collections.deque()
        self.newest = 0

    def new(self, items: list[dict]) -> list[dict]:
        fresh = [item for item in items if item["seq"] not in self.seqs]
        for item in fresh:
            self.seqs.add(item["seq"])
            self.order.append(item["seq"])
            self.newest = max(self.newest, item["seq"])
            if len(self.order) > self.KEEP:
                self.seqs.discard(self.order.popleft())
        return fresh


async def _catch_up(feed: Feed, reader: Reader, after: int | None) -> tuple[list[dict], dict]:
    """The items after `after` (none when it is None) and the counts, read together."""
    async with feed.gateway.pool.connection() as conn:
        inbox = Inbox(conn)
        missed = await inbox.after(reader, after, MAX_RESUME) if after is not None else []
        return missed, await inbox.counts(reader)


def _sse(kind: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get("/inbox/{name}", name="inbox.static", include_in_schema=False)
async def static(name: str) -> FileResponse:
    """The bell (`/inbox/tidings-inbox.js`) and the demo page (`/inbox/demo`)."""
    if name not in FILES:
        raise HTTPException(404, "not found")
    return FileResponse(STATIC / FILE_NAMES.get(name, name), media_type=FILES[name],
                        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})
