"""POST /v1/alertmanager: Alertmanager's webhook (version 4) turned into one notification per
group by the routing table, deduplicated on the group's content (its alerts' fingerprints and
states: a change notifies, a repeat does not), published before the answer."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from consumer.notification_json import InvalidNotification, notification_from_json
from gateway.auth import Principal
from gateway.errors import ApiError, field_of
from gateway.openapi_schemas import ALERTMANAGER_BODY
from gateway.publishing import publish
from gateway.request_body import json_body, json_object
from gateway.scopes import ALERTMANAGER, check_tenants, requires

router = APIRouter(tags=["alertmanager"])

STATUSES = ("firing", "resolved")

# Alertmanager sends a group again exactly when its alerts change (one joins, one resolves) and
# repeats it unchanged every repeat_interval (or from each replica of an HA pair): only a change of
# content publishes. The row lock holds a concurrent duplicate until we commit.
_CHANGE = """
INSERT INTO alertmanager_groups AS g (group_key, status, alerts_digest, updated_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (group_key) DO UPDATE
    SET status = excluded.status, alerts_digest = excluded.alerts_digest, updated_at = excluded.updated_at
    WHERE g.alerts_digest IS DISTINCT FROM excluded.alerts_digest
RETURNING 1
"""


@dataclass(frozen=True)
class AlertGroup:
    group_key: str
    status: str
    labels: dict[str, str]     # the group's labels and the labels its alerts share
    alerts: list[dict]
    payload: dict

    def digest(self) -> str:
        """What the group says: each alert's identity and state (and how many were cut off by
        max_alerts). The same alerts in another order, or with new timestamps, say the same."""
        content = sorted((alert_identity(alert), alert["status"]) for alert in self.alerts)
        truncated = self.payload.get("truncatedAlerts")
        return hashlib.sha256(json.dumps([self.status, content, truncated]).encode()).hexdigest()


def alert_identity(alert: dict) -> str:
    """Alertmanager's fingerprint of the alert's labels; the labels themselves when absent."""
    fingerprint = alert.get("fingerprint")
    return fingerprint if isinstance(fingerprint, str) and fingerprint else json.dumps(alert["labels"], sort_keys=True)


def alert_group(payload: dict) -> AlertGroup:
    """Validate the fields Tidings relies on; ApiError(422) naming the field otherwise."""
    if str(payload.get("version")) != "4":
        raise ApiError(422, f"version: {payload.get('version')!r} is not 4 (Alertmanager's webhook version)", "version")
    key, status = payload.get("groupKey"), payload.get("status")
    if not isinstance(key, str) or not key:
        raise ApiError(422, "groupKey: required, a non-empty string", "groupKey")
    if status not in STATUSES:
        raise ApiError(422, f"status: {status!r} is not firing or resolved", "status")
    labels_of(payload.get("commonAnnotations", {}), "commonAnnotations")
    labels = {**labels_of(payload.get("groupLabels", {}), "groupLabels"),
              **labels_of(payload.get("commonLabels", {}), "commonLabels")}
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise ApiError(422, "alerts: expected a non-empty array", "alerts")
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict) or alert.get("status") not in STATUSES:
            raise ApiError(422, f"alerts[{index}].status: expected firing or resolved", f"alerts[{index}].status")
        labels_of(alert.get("labels"), f"alerts[{index}].labels")
        labels_of(alert.get("annotations", {}), f"alerts[{index}].annotations")
    return AlertGroup(key, status, labels, alerts, payload)


def labels_of(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiError(422, f"{where}: expected an object of string values", where)
    return value


def notification_of(group: AlertGroup, routes, source: str) -> dict:
    """The JSON form of the group's notification (validated by consumer/notification_json.py)."""
    route = routes.route_for(group.labels)
    if route is None:
        raise ApiError(422, f"no Alertmanager route matches the labels {group.labels}; add one to "
                       "TIDINGS_GATEWAY_ALERTMANAGER_ROUTES (an empty match catches everything)", "commonLabels")
    name = group.labels.get("alertname", "alert")
    extra = ", ".join(f"{k}={v}" for k, v in sorted(group.labels.items()) if k != "alertname")
    lines = []
    for alert in group.alerts:
        notes = alert.get("annotations") or {}
        what = notes.get("summary") or notes.get("description") or alert["labels"].get("alertname", name)
        tags = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()) if k != "alertname")
        lines.append(f"- [{alert['status']}] {what} ({tags})")
    if isinstance(group.payload.get("externalURL"), str):
        lines.append(group.payload["externalURL"])
    severities = [a["labels"].get("severity", "") for a in group.alerts if a["status"] == group.status]
    return {"source": source, "tenant": route.tenant, "category": "alert", "channels": route.channels,
            "recipient": route.recipient,
            "priority": routes.priority_for(severities),
            "content": {"default": {"subject": f"[{group.status.upper()}:{len(group.alerts)}] {name}"
                                               + (f" ({extra})" if extra else ""),
                                    "text": "\n".join(lines)}},
            "data": {"alertmanager": group.payload}}


@router.post("/v1/alertmanager", name="alertmanager.receive", openapi_extra=ALERTMANAGER_BODY,
             responses={200: {"description": "duplicate: the group already notified these alerts in these states"},
                        202: {"description": "published"}})
async def receive_alerts(request: Request, principal: Principal = Depends(requires(ALERTMANAGER))):
    gateway = request.app.state.gateway
    group = alert_group(json_object(await json_body(request)))
    request.state.target = f"{group.group_key} {group.status}"[:500]
    try:
        record = notification_from_json(notification_of(group, gateway.alert_routes, principal.subject),
                                        clock=gateway.clock)
    except InvalidNotification as exc:  # a route's recipient is wrong: the configuration's fault, said plainly
        raise ApiError(422, f"the matching route makes an invalid notification: {exc}", field_of(str(exc))) from None
    check_tenants(principal, [record["tenant"]])  # before the group's state changes
    async with gateway.pool.connection() as conn, conn.transaction():
        changed = await (await conn.execute(_CHANGE, [group.group_key, group.status, group.digest(),
                                                      gateway.clock()])).fetchone()
        if changed is None:
            gateway.metrics.alertmanager.labels("duplicate").inc()
            return JSONResponse({"status": "duplicate", "group_key": group.group_key, "group_status": group.status})
        published = await publish(gateway, [record], origin="alertmanager")  # an error rolls the status back
    gateway.metrics.alertmanager.labels("published").inc()
    return JSONResponse({"status": "published", **published[0]}, status_code=202)
