-- Alertmanager dedup on the group's content, not its status (issue 15): Alertmanager sends a group
-- again exactly when its alerts change (one joins, one resolves), so a new alert joining a group
-- that is already firing must publish. The digest covers every alert's fingerprint and state;
-- rows from before have none, so their next notification publishes once.
ALTER TABLE alertmanager_groups ADD COLUMN alerts_digest text;
