"""Shared fixtures: a real broker, a real Postgres, service processes and an HTTP receiver."""
from tests.fixtures.kafka import *  # noqa: F401,F403
from tests.fixtures.postgres import *  # noqa: F401,F403
from tests.fixtures.processes import *  # noqa: F401,F403
from tests.fixtures.receiver import *  # noqa: F401,F403
from tests.fixtures.slack import *  # noqa: F401,F403
from tests.fixtures.smtp import *  # noqa: F401,F403
from tests.fixtures.sns import *  # noqa: F401,F403
from tests.fixtures.twilio import *  # noqa: F401,F403
from tests.fixtures.own_postgres import *  # noqa: F401,F403
from tests.fixtures.push import apns, fcm  # noqa: F401 (fixtures)
