ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

# libopus for the Opus encoder; everything else comes from PyPI wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopus0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY linecall ./linecall
COPY bot ./bot
COPY protocol ./protocol
COPY media ./media
COPY config ./config
RUN python3 -m venv /opt/linecall \
    && /opt/linecall/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && rm -rf /src

# An unprivileged user owns only the data volume (storage file, uploaded sources, a WAV of yours).
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin linecall \
    && mkdir -p /data && chown linecall:linecall /data
ENV PATH=/opt/linecall/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LINE_STORAGE_FILE=/data/linecall.sqlite3 \
    LINE_HTTP_LISTEN=127.0.0.1:8080
USER linecall
WORKDIR /data
VOLUME ["/data"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os,sys,urllib.request; h=os.environ.get('LINE_HTTP_LISTEN','127.0.0.1:8080'); sys.exit(0 if urllib.request.urlopen(f'http://{h}/healthz', timeout=4).status == 200 else 1)"]

CMD ["linecall", "run"]
