-- Recipient addresses as a map, channel name -> address, so a new channel needs no column (issue
-- 16): the per-channel columns move into it and are dropped. A null or empty column adds nothing.

ALTER TABLE recipients ADD COLUMN IF NOT EXISTS addresses jsonb NOT NULL DEFAULT '{}';

UPDATE recipients SET addresses = addresses || jsonb_strip_nulls(jsonb_build_object(
    'email', nullif(email, ''), 'sms', nullif(phone, ''), 'slack', nullif(slack, ''),
    'webhook', nullif(webhook_url, '')));

ALTER TABLE recipients DROP COLUMN IF EXISTS email, DROP COLUMN IF EXISTS phone,
    DROP COLUMN IF EXISTS slack, DROP COLUMN IF EXISTS webhook_url;
