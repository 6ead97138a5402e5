"""Small command-line contracts: db migrate, and clear errors for what is not there."""
import psycopg

from consumer.settings import Settings
from tests.cli.run import tidings


def test_db_migrate_creates_the_tables_once(database_url):
    settings = Settings(database_url=database_url)
    first = tidings(settings, "db", "migrate")
    assert first.returncode == 0 and "applied: 001_delivery_log" in first.stdout
    assert "up to date" in tidings(settings, "db", "migrate").stdout
    with psycopg.connect(database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"delivery_events", "deliveries"} <= tables


def test_missing_database_url_and_unbuilt_channel_are_clear_errors():
    result = tidings(None, "db", "migrate", TIDINGS_DATABASE_URL="")
    assert result.returncode == 2 and "TIDINGS_DATABASE_URL" in result.stderr
    result = tidings(None, "run", "channel", "sms", TIDINGS_BOOTSTRAP_SERVERS="127.0.0.1:1", timeout=30)
    assert result.returncode == 2 and "needs sms_twilio_account_sid" in result.stdout  # no credentials configured
    result = tidings(None, "topics", "list", TIDINGS_PARTITIONS="lots")
    assert result.returncode == 2 and "TIDINGS_PARTITIONS" in result.stderr
