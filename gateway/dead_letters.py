"""/v1/dlq: the dead letters' counts and samples as the tracking sink recorded them in Postgres,
and replay to the topics they failed from as a background job (gateway/dlq_replay_jobs.py), with
the ledger of `tidings dlq replay` (tracking/dead_letters.py, tracking/dead_letter_replay.py).
A token sees and replays only the dead letters of its tenants (the tenant in the payload)."""
from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from consumer.channel_specs import channel_names
from gateway.auth import Principal
from gateway.dlq_replay_jobs import ReplayJobs, ReplayRequest, TooManyReplays, job_json, job_status
from gateway.errors import ApiError
from gateway.moments import moment
from gateway.openapi_schemas import DLQ_REPLAY_BODY, DLQ_REPLAY_RESPONSES, DLQ_REPLAY_JOB_RESPONSES
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_DLQ, requires
from tracking.dead_letter_replay import ReplayLedger
from tracking.dead_letters import DeadLetterFilter, NothingRecorded, summarize


@asynccontextmanager
async def replay_jobs(app: FastAPI):
    """Inside the gateway's own lifespan: jobs stop (interrupted) before the producer closes."""
    app.state.replay_jobs = ReplayJobs(app.state.gateway)
    try:
        yield
    finally:
        await asyncio.to_thread(app.state.replay_jobs.close)


router = APIRouter(tags=["dead letters"], lifespan=replay_jobs)


@router.get("/v1/dlq", name="dlq.list")
async def list_dead_letters(request: Request, channel: Literal[channel_names()] | None = None,
                            error: str | None = Query(None, max_length=200),
                            since: str | None = Query(None, max_length=64), until: str | None = Query(None, max_length=64),
                            principal: Principal = Depends(requires(ADMIN_DLQ))):
    gateway = request.app.state.gateway
    selection = _selection(gateway, {"channel": channel, "error": error, "since": since, "until": until}, principal)
    try:
        return await gateway.blocking(lambda conn: summarize(conn, gateway.topics.dlq, selection))
    except NothingRecorded as exc:
        raise ApiError(503, str(exc)) from None


@router.post("/v1/dlq/replay", name="dlq.replay", status_code=202, openapi_extra=DLQ_REPLAY_BODY,
             responses=DLQ_REPLAY_RESPONSES)
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
    selection = _selection(gateway, body, principal)
    request.state.target = gateway.topics.dlq
    if dry_run:  # counted in Postgres: answered at once
        plan = await gateway.blocking(lambda conn: ReplayLedger(conn).plan(gateway.topics.dlq, selection))
        return JSONResponse({"dry_run": True, "matching": plan.matching, "replayed": 0, "would_replay": plan.to_replay,
                             "skipped_already_replayed": plan.already_replayed,
                             "skipped_already_sent": plan.already_sent, "skipped_no_original_topic": plan.no_origin,
                             "failures": []})
    try:
        row = await asyncio.to_thread(request.app.state.replay_jobs.start,
                                      ReplayRequest(selection, rate, principal.subject))
    except TooManyReplays as exc:
        raise ApiError(409, str(exc)) from None
    request.state.target = f"{gateway.topics.dlq} replay {row['id']}"
    location = request.url_for("dlq.replay_job", job_id=str(row["id"])).path
    return JSONResponse(job_json(row), status_code=202, headers={"Location": location})


@router.get("/v1/dlq/replays/{job_id}", name="dlq.replay_job", responses=DLQ_REPLAY_JOB_RESPONSES)
async def replay_job(request: Request, job_id: uuid.UUID, principal: Principal = Depends(requires(ADMIN_DLQ))):
    """A replay job's state (queued, running, done, failed), its counts and failures."""
    gateway = request.app.state.gateway
    row = await gateway.blocking(lambda conn: job_status(conn, job_id))
    # Only tokens that may see every dead letter it touched see it; others get the unknown id's answer.
    visible = row is not None and (principal.tenants is None or (
        row["tenants"] is not None and set(row["tenants"]) <= principal.tenants))
    if not visible:
        raise ApiError(404, f"no replay {job_id}", "job_id")
    return job_json(row)


def _selection(gateway, given: dict, principal: Principal) -> DeadLetterFilter:
    for key in ("channel", "error", "since", "until"):
        if given.get(key) is not None and not isinstance(given[key], str):
            raise ApiError(422, f"{key}: expected a string", key)
    if given.get("channel") is not None and given["channel"] not in channel_names():
        raise ApiError(422, f"channel: {given['channel']!r} is not one of {', '.join(channel_names())}", "channel")
    # The tenant comes from the payload: those no codec reads have none, so only "*" tokens see them.
    return DeadLetterFilter(given.get("channel"), given.get("error"), moment(given.get("since"), "since", gateway.clock),
                            moment(given.get("until"), "until", gateway.clock), tenants=principal.tenants)
