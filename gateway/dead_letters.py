"""/v1/dlq: the dead-letter topic's counts and samples, and replay to the topics the messages
failed from, with the same ledger as `tidings dlq replay` (cli/dlq_read.py, cli/dlq_replay.py).
A token sees and replays only the dead letters of its tenants (the tenant in the payload)."""
from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from cli.dlq_read import (DeadLetter, DeadLetterFilter, DeadLetterTopicMissing, decode_payload, read_dead_letters,
                          summarize)
from cli.dlq_replay import RatePacer, ReplayLedger, execute_replay, plan_replay
from consumer.channel_specs import channel_names
from gateway.auth import Principal
from gateway.errors import ApiError
from gateway.moments import moment
from gateway.openapi_schemas import DLQ_REPLAY_BODY
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_DLQ, requires

router = APIRouter(tags=["dead letters"])


@router.get("/v1/dlq", name="dlq.list")
async def list_dead_letters(request: Request, channel: Literal[channel_names()] | None = None,
                            error: str | None = Query(None, max_length=200),
                            since: str | None = Query(None, max_length=64), until: str | None = Query(None, max_length=64),
                            principal: Principal = Depends(requires(ADMIN_DLQ))):
    gateway = request.app.state.gateway
    selection = _selection(gateway, {"channel": channel, "error": error, "since": since, "until": until})
    letters = await _read(gateway, principal)
    return summarize([letter for letter in letters if selection.matches(letter)], len(letters), gateway.codec)


@router.post("/v1/dlq/replay", name="dlq.replay", openapi_extra=DLQ_REPLAY_BODY)
async def replay_dead_letters(request: Request, principal: Principal = Depends(requires(ADMIN_DLQ))):
    gateway = request.app.state.gateway
    body = json_object(await json_body(request))
    unknown = set(body) - {"channel", "error", "since", "until", "dry_run", "rate"}
    if unknown:
        raise ApiError(422, f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    dry_run, rate = body.get("dry_run", False), body.get("rate")
    if not isinstance(dry_run, bool):
        raise ApiError(422, "dry_run: expected true or false", "dry_run")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 100000):
        raise ApiError(422, "rate: expected messages per second, over 0 and at most 100000", "rate")
    selection = _selection(gateway, body)
    request.state.target = gateway.topics.dlq
    letters = [letter for letter in await _read(gateway, principal) if selection.matches(letter)]
    return await asyncio.to_thread(_replay, gateway, letters, dry_run, rate)


def _replay(gateway, letters, dry_run: bool, rate: float | None) -> dict:
    ledger = ReplayLedger.open(gateway.settings.database_url, migrate=False)
    try:
        plan = plan_replay(letters, ledger, gateway.codec, gateway.topics.dlq, clock=gateway.clock)
        answer = {"dry_run": dry_run, "matching": len(letters), "replayed": 0,
                  "would_replay": len(plan.replay) if dry_run else None,
                  "skipped_already_replayed": len(plan.already_replayed),
                  "skipped_already_sent": len(plan.already_sent), "skipped_no_original_topic": len(plan.no_origin),
                  "failures": []}
        if not dry_run:
            result = execute_replay(plan, gateway.publisher, ledger, gateway.codec, gateway.topics.deliveries,
                                    RatePacer(rate))
            answer.update(replayed=result.replayed, failures=result.failures)
        return answer
    finally:
        ledger.close()


def _selection(gateway, given: dict) -> DeadLetterFilter:
    for key in ("channel", "error", "since", "until"):
        if given.get(key) is not None and not isinstance(given[key], str):
            raise ApiError(422, f"{key}: expected a string", key)
    if given.get("channel") is not None and given["channel"] not in channel_names():
        raise ApiError(422, f"channel: {given['channel']!r} is not one of {', '.join(channel_names())}", "channel")
    return DeadLetterFilter(given.get("channel"), given.get("error"), moment(given.get("since"), "since", gateway.clock),
                            moment(given.get("until"), "until", gateway.clock))


async def _read(gateway, principal: Principal) -> list[DeadLetter]:
    """The dead letters the token may see: all for a "*" token, else those of its tenants."""
    try:
        letters = await asyncio.to_thread(read_dead_letters, gateway.settings, gateway.topics.dlq, 1.0, 60.0)
    except DeadLetterTopicMissing as exc:
        raise ApiError(503, str(exc)) from None
    if principal.tenants is None:
        return letters
    return [letter for letter in letters if principal.acts_for(tenant_of(letter, gateway.codec))]


def tenant_of(letter: DeadLetter, codec) -> str | None:
    """The tenant in the letter's payload; None for bytes no codec reads (only "*" sees those)."""
    payload = decode_payload(codec, letter.value)
    return payload.record.get("tenant") if payload.record is not None else None
