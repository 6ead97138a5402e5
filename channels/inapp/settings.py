"""The in-app inbox's settings (TIDINGS_INAPP_*): read by its channel worker (writing items), by the
gateway's feed API (recipient tokens, live streams) and by `tidings db prune` (retention)."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class InappSettings(Section):
    inapp_tenant_keys: SecretStr | None = Field(None, description=(
        "JSON `{\"<tenant>\": \"<key>\"}`: the key each tenant's backend signs its recipients' feed tokens "
        "with, an HS256 secret of at least 32 bytes or a PEM public key (RS256, ES256); a tenant without a "
        "key has no feed (401); never logged"))
    inapp_token_leeway_s: float = Field(30.0, description="clock skew allowed on a feed token's `exp` / `nbf`")
    inapp_token_max_lifetime_s: float = Field(7 * 86400.0, description=(
        "a feed token whose `exp` lies further ahead than this is refused (a leaked token must expire)"))
    inapp_page_max: int = Field(100, description="the most items one feed page returns")
    inapp_stream_max_per_recipient: int = Field(10, description=(
        "live streams (`/v1/inbox/stream`) one recipient may hold open on one gateway process (429 beyond)"))
    inapp_stream_max_total: int = Field(5000, description="live streams one gateway process holds open (429 beyond)")
    inapp_stream_keepalive_s: float = Field(15.0, description="a comment line this often keeps proxies from closing a "
                                                              "quiet stream")
    inapp_stream_idle_s: float = Field(600.0, description=(
        "a stream that carried no event for this long is closed (the client reconnects with Last-Event-ID)"))
    inapp_pool_size: int = Field(4, description="Postgres connections of the inbox channel worker")
    inapp_max_body_chars: int = Field(20000, description="a longer item body is refused (`inbox_too_large`)")
    inapp_retention: str = Field("180d", description="`tidings db prune` removes inbox items older than this")
    inapp_archived_retention: str = Field("30d", description=(
        "`tidings db prune` removes archived inbox items archived longer ago than this"))
