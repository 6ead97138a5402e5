-- The suppression list (issue 20): addresses a tenant no longer sends to because they bounced
-- hard, complained, are unreachable, soft-bounced too often, or an operator said so. The router
-- suppresses a delivery to one (reason `address_suppressed`) without contacting the provider.
-- Addresses are stored as their channel normalises them (consumer/channel_specs.py).
CREATE TABLE IF NOT EXISTS suppressions (
    -- Newest first in listings, and the cursor of their pages.
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant text NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    reason text NOT NULL,       -- hard_bounce | complaint | unreachable | soft_bounces | manual
    source text NOT NULL,       -- who added it: provider:<name>, api:<subject>, cli
    detail text,                -- the provider's words (a DSN's diagnostic, a carrier's error), if any
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, channel, address)
);

-- Soft bounces not yet old enough to forget: N of them within the window suppress the address.
-- `receipt` tells one bounce from another (the delivery id, else its time), so a provider's
-- retried callback counts once.
CREATE TABLE IF NOT EXISTS soft_bounces (
    tenant text NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    receipt text NOT NULL,
    bounced_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, channel, address, receipt)
);
CREATE INDEX IF NOT EXISTS soft_bounces_bounced_at ON soft_bounces (bounced_at);
