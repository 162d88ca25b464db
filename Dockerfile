# calf-cds production image: gunicorn behind `calf-cds serve`, JWT required, console off.
# Installs from the same lock as `make run` (uv.lock, hashes checked), without the dev tools.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
# uv itself, pinned with its hashes (the file `make` bootstraps from).
COPY scripts/uv-requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-cache-dir --no-deps --only-binary :all: --require-hashes \
        -r /tmp/uv-requirements.txt
WORKDIR /src
# Dependencies first (a layer that survives code changes), then the project, not editable.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project --no-cache
COPY cds ./cds
RUN uv sync --locked --no-dev --no-editable --no-cache

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CDS_AUTH_MODE=required \
    CDS_CONSOLE=off \
    CDS_CORS_ORIGINS= \
    CDS_DATABASE_URL=sqlite:////var/lib/calf-cds/calf-cds.sqlite3
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin calfcds \
    && mkdir -p /var/lib/calf-cds && chown calfcds /var/lib/calf-cds
COPY --from=build /opt/venv /opt/venv

USER 10001
EXPOSE 8080
# No curl in the image: the venv's Python asks /healthz.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["calf-cds", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
