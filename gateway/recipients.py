"""/v1/recipients/{id}, its /preferences, /preferences/quiet-hours and /devices: the recipient
directory, opt-outs, quiet hours and push devices, through router/recipients.py,
router/preferences.py and router/devices.py. Needs the admin:preferences scope."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from channels.push.device import device_address
from consumer.channel_specs import AddressInvalid
from consumer.text_rules import SINGLE_LINE, field_flaw
from gateway.errors import ApiError, field_of, input_status
from gateway.openapi_schemas import DEVICE_BODY, PREFERENCES_BODY, QUIET_HOURS_BODY, RECIPIENT_BODY
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_PREFERENCES, requires
from router.devices import DeviceDirectory, DeviceInvalid
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
    wanted = await _entries(request, "a preference", _preference)
    request.state.target = recipient_id

    def write(conn) -> list[dict]:
        preferences = Preferences(conn)
        with conn.transaction():
            return [preferences.set(recipient_id, source="api", **entry) for entry in wanted]
    return await _written(request, write)


async def _entries(request: Request, what: str, read) -> list[dict]:
    """The body's object, or each object of its array, read by `read(entry, index or None)`."""
    body = await json_body(request)
    entries = body if isinstance(body, list) else [body]
    if not entries:
        raise ApiError(422, f"expected {what} object or a non-empty array of them")
    return [read(entry, index if isinstance(body, list) else None) for index, entry in enumerate(entries)]


async def _written(request: Request, write) -> list[dict]:
    """`write(connection)` on the directory's connection; a refused value is a 4xx naming its field."""
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


@router.get("/v1/recipients/{recipient_id}/preferences/quiet-hours", name="quiet_hours.read")
async def read_quiet_hours(request: Request, recipient_id: str = RecipientId) -> list[dict]:
    """Quiet windows per channel ("*": every channel without its own), in the recipient's time zone."""
    return await request.app.state.gateway.blocking(lambda conn: Preferences(conn).quiet_hours(recipient_id))


@router.put("/v1/recipients/{recipient_id}/preferences/quiet-hours", name="quiet_hours.put",
            openapi_extra=QUIET_HOURS_BODY)
async def put_quiet_hours(request: Request, recipient_id: str = RecipientId) -> list[dict]:
    """Replace the windows of each channel given (windows null: forget them; []: never quiet);
    answers every channel's windows after the change."""
    wanted = await _entries(request, "a quiet-hours", _quiet_hours)
    request.state.target = recipient_id

    def write(conn) -> list[dict]:
        preferences = Preferences(conn)
        with conn.transaction():
            for entry in wanted:
                preferences.set_quiet_hours(recipient_id, entry["windows"], channel=entry["channel"], source="api")
        return preferences.quiet_hours(recipient_id)
    return await _written(request, write)


def _quiet_hours(entry, index: int | None) -> dict:
    where = f"[{index}]." if index is not None else ""
    entry = json_object(entry, f"{where or 'request body'}")
    unknown = set(entry) - {"channel", "windows"}
    if unknown:
        raise ApiError(422, f"{where}unknown field(s): {', '.join(sorted(unknown))}", f"{where}{sorted(unknown)[0]}")
    if "windows" not in entry:
        raise ApiError(422, f"{where}windows: required, a list of windows such as \"mon-fri 22:00-07:00\" or null",
                       f"{where}windows")
    windows = entry["windows"]
    if windows is not None and (not isinstance(windows, list) or not all(isinstance(w, str) for w in windows)):
        raise ApiError(422, f"{where}windows: expected a list of strings or null", f"{where}windows")
    if entry.get("channel") is not None and not isinstance(entry["channel"], str):
        raise ApiError(422, f"{where}channel: expected a string", f"{where}channel")
    for window in windows or ():
        if problem := field_flaw("windows", window, SINGLE_LINE):
            raise ApiError(400, f"{where}{problem}", f"{where}windows")
    return {"channel": entry.get("channel"), "windows": windows}


@router.get("/v1/recipients/{recipient_id}/devices", name="devices.read")
async def read_devices(request: Request, recipient_id: str = RecipientId) -> list[dict]:
    return await request.app.state.gateway.blocking(lambda conn: DeviceDirectory(conn).list(recipient_id))


@router.post("/v1/recipients/{recipient_id}/devices", name="devices.add", status_code=201, openapi_extra=DEVICE_BODY)
async def add_device(request: Request, recipient_id: str = RecipientId) -> dict:
    """Register a device; one registered to another recipient moves to this one."""
    request.state.target = recipient_id
    channel, address = _device(json_object(await json_body(request)))
    try:
        return await request.app.state.gateway.blocking(
            lambda conn: DeviceDirectory(conn).add(recipient_id, channel, address))
    except DeviceInvalid as exc:
        message = str(exc)  # "address: ...", "recipient_id: ..." or "channel 'fax' has no devices ..."
        field = field_of(message) or ("channel" if message.startswith("channel ") else None)
        raise ApiError(input_status(exc), message, field) from None


@router.delete("/v1/recipients/{recipient_id}/devices", name="devices.delete", status_code=204,
               responses={404: {"description": "the recipient has no such device"}})
async def delete_device(request: Request, recipient_id: str = RecipientId,
                        channel: str = Query(min_length=1, max_length=64),
                        address: str = Query(min_length=1, max_length=8192,
                                             description="as registered (push: <platform>:<app>:<token>)")) -> Response:
    request.state.target = recipient_id
    for name, value in (("channel", channel), ("address", address)):
        if problem := field_flaw(name, value, SINGLE_LINE):
            raise ApiError(400, problem, name)
    if not await request.app.state.gateway.blocking(
            lambda conn: DeviceDirectory(conn).remove(recipient_id, channel, address)):
        raise ApiError(404, f"recipient {recipient_id!r} has no {channel} device {address[:200]!r}", "address")
    return Response(status_code=204)


_PUSH = "push"  # the channel whose address platform, app and token compose
_PUSH_PARTS = ("platform", "app", "token")


def _device(body: dict) -> tuple[str, str]:
    """(channel, address) of a device body: an address, or push's platform, app and token. A
    control character is a 400, as in every other directory body."""
    unknown = set(body) - {"channel", "address", *_PUSH_PARTS}
    if unknown:
        raise ApiError(422, f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    for key, value in body.items():
        if not isinstance(value, str):
            raise ApiError(422, f"{key}: expected a string", key)
        if problem := field_flaw(key, value, SINGLE_LINE):
            raise ApiError(400, problem, key)
    channel, parts = body.get("channel"), [key for key in _PUSH_PARTS if key in body]
    if channel is None:
        raise ApiError(422, "channel: required", "channel")
    if parts and channel != _PUSH:
        raise ApiError(422, f"{parts[0]}: only for channel {_PUSH} (give address)", parts[0])
    if "address" in body:
        if parts:
            raise ApiError(422, f"give address or {', '.join(_PUSH_PARTS)}, not both", parts[0])
        return channel, body["address"]
    if channel != _PUSH:
        raise ApiError(422, "address: required", "address")
    if missing := [key for key in _PUSH_PARTS if key not in body]:
        raise ApiError(422, f"{missing[0]}: required (or give address)", missing[0])
    try:
        return channel, device_address(body["platform"], body["app"], body["token"])
    except AddressInvalid as exc:  # the message names the part: "push app '...' is not ..."
        raise ApiError(422, str(exc), next((key for key in _PUSH_PARTS if f" {key} " in f" {exc} "), None)) from None
