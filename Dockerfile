# moqui-stripe: the production wheel on python:3.11-slim, with PostgreSQL's server binaries for the embedded default
# database. Point DATABASE_URL at Moqui's PostgreSQL for the shared-database drop-in, or keep the embedded one in the
# /data volume. The code is installed by root and only read by the service's own user; run it with `--read-only`
# (plus `--tmpfs /tmp`) if you like: it writes only to /data. .ci/check-wheel runs the same build, offline install
# and /health check without Docker.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY entity-defs ./entity-defs
COPY moqui_bridge ./moqui_bridge
COPY service ./service
# The production wheel (setup.py leaves the emulator, the demo and the SaaS example out) and its dependencies.
RUN pip wheel --no-cache-dir --wheel-dir /wheelhouse .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --no-create-home --home-dir /data --uid 10001 moqui-stripe \
    && mkdir -p /data && chown moqui-stripe /data
COPY --from=build /wheelhouse /tmp/wheelhouse
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse moqui-stripe && rm -rf /tmp/wheelhouse

USER moqui-stripe
WORKDIR /data
VOLUME /data
ENV MOQUI_STRIPE_DATABASE_DATA_DIR=/data/postgres \
    PYTHONDONTWRITEBYTECODE=1
EXPOSE 8080
# /health answers 200 while the database is reachable, 503 (urlopen raises, exit 1) when it is not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
CMD ["moqui-stripe", "serve", "--host", "0.0.0.0", "--port", "8080"]
