# calf-cds production image: gunicorn behind `calf-cds serve`, JWT required, console off.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_AUTH_MODE=required \
    CDS_CONSOLE=off \
    CDS_CORS_ORIGINS= \
    CDS_DATABASE_URL=sqlite:////var/lib/calf-cds/calf-cds.sqlite3

RUN apt-get update \
    && apt-get install -y --no-install-recommends make curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin calfcds \
    && mkdir -p /var/lib/calf-cds && chown calfcds /var/lib/calf-cds

WORKDIR /app
COPY pyproject.toml README.md Makefile ./
COPY cds ./cds
# The same install step as `make run`, into /opt/venv, without the dev tools.
RUN make install VENV=/opt/venv INSTALL_SPEC=. && chown -R calfcds /app

USER calfcds
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD ["/opt/venv/bin/calf-cds", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
