"""RFC 8058 end to end: a link minted by the gateway goes out in an email's List-Unsubscribe
header (the real email channel and an SMTP server), the mail provider's one-click POST to it
writes the opt-out, and the router suppresses the next email of that category."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from tests.gateway.conftest import make_token
from tests.pipeline import wait_for_statuses


def newsletter(link: str | None) -> dict:
    options = {"unsubscribe_url": link} if link else {}
    return {"channels": ["email"], "category": "newsletter",
            "recipient": {"id": "reader-1", "email": "reader@example.com"},
            "content": {"email": {"subject": "This week", "text": "News", "options": options}}}


def test_the_link_in_list_unsubscribe_opts_the_recipient_out(gateway, services, pipeline, smtp_server):
    server = smtp_server(tls="none", auth=False)
    services.start_pipeline("email", TIDINGS_SMTP_HOST=server.host, TIDINGS_SMTP_PORT=str(server.port),
                            TIDINGS_SMTP_TLS="none", TIDINGS_SMTP_FROM="news@example.com")
    admin, sender = make_token(scopes=["admin:preferences"]), make_token("newsroom", scopes=["send:email"])
    link = gateway.request("POST", "/v1/unsubscribe-links", admin,
                           json={"recipient_id": "reader-1", "channel": "email", "category": "newsletter"}).json()["url"]
    first = gateway.request("POST", "/v1/notifications", sender, json=newsletter(link)).json()["id"]
    wait_for_statuses(pipeline.database_url, [first])
    deadline = time.monotonic() + 30
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.05)
    email = server.received[0].email
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header_url = urlsplit(email["List-Unsubscribe"].strip("<>"))

    # What Gmail or Outlook does with it: POST List-Unsubscribe=One-Click to that URL.
    clicked = gateway.request("POST", f"{header_url.path}?{header_url.query}", content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert clicked.status_code == 200 and clicked.json()["enabled"] is False

    second = gateway.request("POST", "/v1/notifications", sender, json=newsletter(None)).json()["id"]
    assert wait_for_statuses(pipeline.database_url, [second], statuses=("suppressed",)) == {second: "suppressed"}
    assert len(server.received) == 1
