"""/v1/recipients/{id} and its /preferences: the recipient directory and opt-outs, through
router/recipients.py and router/preferences.py. Needs the admin:preferences scope."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request, Response

from consumer.text_rules import SINGLE_LINE, field_flaw
from gateway.errors import ApiError, field_of, input_status
from gateway.openapi_schemas import PREFERENCES_BODY, RECIPIENT_BODY
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_PREFERENCES, requires
from router.preferences import PreferenceInvalid, Preferences
from router.recipients import RecipientDirectory, RecipientInvalid

# The directory and preferences are keyed by recipient id alone, shared by every tenant (the router
# resolves any tenant's events against them): only a token acting for all tenants touches them.
router = APIRouter(tags=["recipients"], dependencies=[Depends(requires(ADMIN_PREFERENCES, every_tenant=True))])


def recipient_path(recipient_id: str = Path(min_length=1, max_length=256)) -> str:
    """The {recipient_id} of the path; a control character in it (%00, say) is refused with 400."""
    if problem := field_flaw("recipient_id", recipient_id, SINGLE_LINE):
        raise ApiError(400, problem, "recipient_id")
    return recipient_id


RecipientId = Depends(recipient_path)


@router.get("/v1/recipients/{recipient_id}", name="recipients.read", responses={404: {"description": "unknown"}})
async def read_recipient(request: Request, recipient_id: str = RecipientId) -> dict:
    found = await request.app.state.gateway.blocking(lambda conn: RecipientDirectory(conn).show(recipient_id))
    if found is None:
        raise ApiError(404, f"no recipient {recipient_id!r} in the directory", "recipient_id")
    return found


@router.put("/v1/recipients/{recipient_id}", name="recipients.put", openapi_extra=RECIPIENT_BODY)
async def put_recipient(request: Request, recipient_id: str = RecipientId) -> dict:
    record = {**json_object(await json_body(request)), "id": recipient_id}
    request.state.target = recipient_id
    try:
        await request.app.state.gateway.blocking(lambda conn: RecipientDirectory(conn).upsert([record]))
    except RecipientInvalid as exc:
        raise ApiError(input_status(exc), str(exc), field_of(str(exc))) from None
    return await request.app.state.gateway.blocking(lambda conn: RecipientDirectory(conn).show(recipient_id))


@router.delete("/v1/recipients/{recipient_id}", name="recipients.delete", status_code=204,
               responses={404: {"description": "unknown"}})
async def delete_recipient(request: Request, recipient_id: str = RecipientId) -> Response:
    """Forget the recipient's addresses; their opt-outs stay, so a re-added recipient is not re-subscribed."""
    request.state.target = recipient_id
    if not await request.app.state.gateway.blocking(lambda conn: RecipientDirectory(conn).delete(recipient_id)):
        raise ApiError(404, f"no recipient {recipient_id!r} in the directory", "recipient_id")
    return Response(status_code=204)


@router.get("/v1/recipients/{recipient_id}/preferences", name="preferences.read")
async def read_preferences(request: Request, recipient_id: str = RecipientId) -> list[dict]:
    return await request.app.state.gateway.blocking(lambda conn: Preferences(conn).show(recipient_id))


@router.put("/v1/recipients/{recipient_id}/preferences", name="preferences.put", openapi_extra=PREFERENCES_BODY)
async def put_preferences(request: Request, recipient_id: str = RecipientId) -> list[dict]:
    body = await json_body(request)
    entries = body if isinstance(body, list) else [body]
    if not entries:
        raise ApiError(422, "expected a preference object or a non-empty array of them")
    wanted = [_preference(entry, index if isinstance(body, list) else None) for index, entry in enumerate(entries)]
    request.state.target = recipient_id

    def write(conn) -> list[dict]:
        preferences = Preferences(conn)
        with conn.transaction():
            return [preferences.set(recipient_id, source="api", **entry) for entry in wanted]
    try:
        return await request.app.state.gateway.blocking(write)
    except PreferenceInvalid as exc:
        raise ApiError(input_status(exc), str(exc), field_of(str(exc))) from None


def _preference(entry, index: int | None) -> dict:
    where = f"[{index}]." if index is not None else ""
    entry = json_object(entry, f"{where or 'request body'}")
    unknown = set(entry) - {"enabled", "channel", "category"}
    if unknown:
        raise ApiError(422, f"{where}unknown field(s): {', '.join(sorted(unknown))}", f"{where}{sorted(unknown)[0]}")
    if not isinstance(entry.get("enabled"), bool):
        raise ApiError(422, f"{where}enabled: required, true or false", f"{where}enabled")
    for key in ("channel", "category"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ApiError(422, f"{where}{key}: expected a string", f"{where}{key}")
    return {"enabled": entry["enabled"], "channel": entry.get("channel"), "category": entry.get("category")}
