-- Deleting a template retires all its versions (router/template_store.py): it leaves the listing
-- and "latest" no longer finds it, while an event pinning an exact version still renders it
-- (versions are immutable, also in the routers' caches). A later push continues the numbering.

ALTER TABLE templates ADD COLUMN IF NOT EXISTS retired_at timestamptz;
