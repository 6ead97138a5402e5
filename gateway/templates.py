"""/v1/templates: list, read, create or change (a push stores a new version; an unchanged push
stores nothing), delete (retires every version), through router/template_store.py. Needs the
admin:templates scope. A push renders the sample data in render worker processes, never here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway.errors import ApiError
from gateway.openapi_schemas import TEMPLATE_BODY, TEMPLATES_BODY
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_TEMPLATES, requires
from router.render_pool import RenderPool
from router.template_store import TemplateInvalid, TemplateStore

# Templates are shared by every tenant: only a token acting for all of them reads or changes them.
router = APIRouter(tags=["templates"], dependencies=[Depends(requires(ADMIN_TEMPLATES, every_tenant=True))])


@router.get("/v1/templates", name="templates.list")
async def list_templates(request: Request) -> list[dict]:
    return await request.app.state.gateway.blocking(lambda conn: TemplateStore(conn).list())


@router.get("/v1/templates/{name}", name="templates.read", responses={404: {"description": "no such template"}})
async def read_template(name: str, request: Request, version: int | None = Query(None, ge=1, le=2**31 - 1)) -> dict:
    found = await request.app.state.gateway.blocking(lambda conn: TemplateStore(conn).show(name, version))
    if found is None:
        raise ApiError(404, f"no template {name!r}" + (f" version {version}" if version else ""), "name")
    return found


@router.post("/v1/templates", name="templates.push", openapi_extra=TEMPLATES_BODY)
async def push_templates(request: Request) -> list[dict]:
    """One template or an array of them; all are validated, then stored together or not at all."""
    body = await json_body(request)
    templates = body if isinstance(body, list) else [body]
    if not templates or not all(isinstance(t, dict) for t in templates):
        raise ApiError(422, "expected a template object or a non-empty array of them")
    request.state.target = ",".join(str(t.get("name")) for t in templates)[:500]
    return await _push(request, templates)


@router.put("/v1/templates/{name}", name="templates.put", openapi_extra=TEMPLATE_BODY)
async def put_template(name: str, request: Request) -> dict:
    template = {**json_object(await json_body(request)), "name": name}
    request.state.target = name
    return (await _push(request, [template]))[0]


@router.delete("/v1/templates/{name}", name="templates.delete", status_code=204,
               responses={404: {"description": "no such template"}})
async def delete_template(name: str, request: Request) -> Response:
    """Retire the template: new events that name it without a version fail to render (DLQ);
    events pinning a version still render it. A later push continues the version numbers."""
    request.state.target = name
    if not await request.app.state.gateway.blocking(lambda conn: TemplateStore(conn).retire(name)):
        raise ApiError(404, f"no template {name!r}", "name")
    return Response(status_code=204)


def _renderer(request: Request) -> RenderPool:
    """One pool per gateway process, made at the first push (its workers exit with the gateway:
    their input pipe closes)."""
    state = request.app.state
    if getattr(state, "template_renderer", None) is None:
        state.template_renderer = RenderPool.from_settings(state.gateway.settings)
    return state.template_renderer


async def _push(request: Request, templates: list[dict]) -> list[dict]:
    renderer = _renderer(request)
    try:
        return await request.app.state.gateway.blocking(lambda conn: TemplateStore(conn, renderer).push(templates))
    except TemplateInvalid as exc:
        first = exc.errors[0]
        raise ApiError(422, str(exc), getattr(first, "where", None)) from None
