# One image for every Tidings process: `docker run tidings run router`, `... topics create`, etc.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# What the image runs: the core and the extras of every service (the email and SMS channels, the
# gateway; docs/deployment.md, "Installing"). Not the demo's embedded servers, nor the test tools.
# A smaller image for one service: docker build --build-arg EXTRAS="gateway" .
ARG EXTRAS="email sms gateway push apprise inapp"

# Dependencies first, read from pyproject.toml, so that a source change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + [d for x in sys.argv[1:] for d in p['optional-dependencies'][x]]))" $EXTRAS \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (.dockerignore keeps the venv, git and caches out of the context).
COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --no-create-home tidings

USER tidings
# /metrics and /healthz (TIDINGS_METRICS_PORT).
EXPOSE 9400
ENTRYPOINT ["tidings"]
CMD ["--help"]
