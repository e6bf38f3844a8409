# syntax=docker/dockerfile:1
#
# Clinic booking portal: one image for every process (web, worker, migrate).
#   docker build -t clinic-portal .
# The process is chosen by the command; the default is the web server.
# docs/deployment.md explains how docker-compose.yml runs and scales it.

# --- 1. vendor CSS/JS from npm (htmx, Pico, Swagger UI); this stage is thrown away ---
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
# The files `make setup` copies into static/vendor/ on a developer's machine, less axe-core
# (a devDependency only the e2e tests load).
RUN mkdir -p vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js \
       node_modules/@picocss/pico/css/pico.min.css \
       node_modules/swagger-ui-dist/swagger-ui.css \
       node_modules/swagger-ui-dist/swagger-ui-bundle.js \
       vendor/

# --- 2. Python dependencies, installed from the lock into a venv that the runtime copies ---
FROM python:3.11-slim-bookworm AS builder
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# The lock alone first, so editing the code does not reinstall every dependency.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r requirements.lock
# Then the project itself, without dependencies: this checks that pyproject.toml builds and
# records the package's metadata and entry points in the venv.
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps .

# --- 3. runtime: slim Python, the venv, the source tree, no compilers, not root ---
FROM python:3.11-slim-bookworm AS runtime
# PYTHONPATH=/app: every process (gunicorn, `flask --app portal ...`, rq) imports the tree in
# /app, so templates/, static/, migrations/ and instance/ resolve beside the `portal` package.
# WEB_CONCURRENCY: gunicorn reads it as its default --workers (2 unless the environment says).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PORTAL_ENV=production \
    WEB_CONCURRENCY=2
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin portal
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Code and assets stay owned by root: the app can read them but not change them.
COPY portal/ ./portal/
COPY jobs/ ./jobs/
COPY migrations/ ./migrations/
COPY templates/ ./templates/
COPY static/ ./static/
COPY --from=assets /build/vendor/ ./static/vendor/
# Flask's instance folder is the only place the app may write.
RUN mkdir -p /app/instance && chown portal:portal /app/instance
# Numeric, so an orchestrator can verify "not root" without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# No curl in slim images: ask /healthz with the standard library (a 503 raises, so exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
# Exec form: no shell in between, so gunicorn itself gets SIGTERM and stops gracefully. Its
# worker count comes from WEB_CONCURRENCY (gunicorn's own default): --workers ${WEB_CONCURRENCY:-2}.
# --no-control-socket: gunicorn would otherwise try to create ~/.gunicorn/ in the read-only /app
# and log an error at every start; replicas are scaled by compose, not by gunicornc.
# portal/gunicorn_conf.py: logs in LOG_FORMAT (JSON lines in production; the app writes the
# access log then, with request ids), Prometheus multiprocess files, graceful_timeout.
CMD ["gunicorn", "--config", "python:portal.gunicorn_conf", "--bind", "0.0.0.0:8000", \
     "--no-control-socket", "portal:create_app()"]
