-- Devices: a recipient has any number of addresses on a channel that declares `devices` (push:
-- `<platform>:<app>:<token>`), and the router fans a notification out to one delivery per device.
-- A device belongs to one recipient at a time: registering its address again moves it.
CREATE TABLE IF NOT EXISTS recipient_devices (
    channel text NOT NULL,
    address text NOT NULL,
    recipient_id text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, address)
);
CREATE INDEX IF NOT EXISTS recipient_devices_recipient ON recipient_devices (recipient_id, channel);
