# moqui-stripe: the service, with PostgreSQL's server binaries for the embedded default database.
# Point DATABASE_URL at Moqui's PostgreSQL for the shared-database drop-in, or mount /data to keep the embedded one.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 moqui-stripe \
    && mkdir -p /data && chown moqui-stripe /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY entity-defs ./entity-defs
COPY moqui_bridge ./moqui_bridge
COPY service ./service
COPY stripe_emulator ./stripe_emulator
# Editable install keeps entity-defs/ beside the packages, where the service looks for it.
RUN pip install --no-cache-dir -e . && chown -R moqui-stripe /app

USER moqui-stripe
ENV MOQUI_STRIPE_DATABASE_DATA_DIR=/data/postgres
EXPOSE 8080
CMD ["moqui-stripe", "serve", "--host", "0.0.0.0", "--port", "8080"]
