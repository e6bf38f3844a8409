"""The deployment files (Dockerfile, .dockerignore, docker-compose.yml) checked offline.

No Docker engine is needed: the files are read and parsed, and the health-check commands are run
against a throwaway HTTP server on 127.0.0.1. Each test names a mistake that would break a deploy.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.production.example"

PYTHON_BASE = "python:3.11-slim-bookworm"
NODE_BASE = "node:20-bookworm-slim"
APP_SERVICES = {"migrate", "web", "worker", "cron"}
SCALED_SERVICES = {"web", "worker"}
PRODUCTION_SETTINGS = [
    "SECRET_KEY",
    "RAZORPAY_KEY_ID",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_USE_TLS",
    "MAIL_DEFAULT_SENDER",
    "VAPID_PUBLIC_KEY",
    "VAPID_PRIVATE_KEY",
    "VAPID_SUBJECT",
]


# --- Dockerfile parsing -------------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM ... [AS name] block of the Dockerfile and its instructions."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        """The argument strings of every instruction `keyword` in this stage, in order."""
        return [args for kw, args in self.instructions if kw == keyword]


def parse_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, with continuation lines joined and comments
    (including the `# syntax=` directive) dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # Docker skips both, even inside a continuation
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"Dockerfile ends inside a continued line: {pending!r}"
    return instructions


def parse_stages(text: str) -> list[Stage]:
    """The build stages, in order; only ARG may come before the first FROM."""
    stages: list[Stage] = []
    for keyword, args in parse_instructions(text):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif keyword != "ARG" or stages:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def split_flags(args: str) -> tuple[dict[str, str], str]:
    """Leading --flag[=value] options of an instruction, and the rest of its arguments."""
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        key, _, value = flag[2:].partition("=")
        flags[key] = value
        rest = rest.lstrip()
    return flags, rest


def exec_form(args: str) -> list[str]:
    """The argv of an exec-form (JSON array) CMD/ENTRYPOINT/HEALTHCHECK CMD; fails on shell form."""
    assert args.startswith("["), f"not in exec (JSON) form, so no shell-free signals: {args}"
    argv = json.loads(args)
    assert isinstance(argv, list), args
    assert all(isinstance(a, str) for a in argv), args
    return argv


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """(flags, sources, destination) of a COPY or ADD."""
    flags, rest = split_flags(args)
    parts = json.loads(rest) if rest.startswith("[") else rest.split()
    assert len(parts) >= 2, f"COPY needs a source and a destination: {args}"
    return flags, parts[:-1], parts[-1]


def env_pairs(args: str) -> dict[str, str]:
    """The variables one ENV instruction sets (`K=V K2=V2`, or the legacy `K V`)."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    """The Dockerfile's build stages."""
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    """The stage that becomes the image."""
    return stages[-1]


def local_copy_sources(stages: list[Stage]) -> list[str]:
    """Every COPY/ADD source taken from the build context (not from another stage)."""
    sources = []
    for stage in stages:
        for keyword, args in stage.instructions:
            if keyword in ("COPY", "ADD"):
                flags, srcs, _ = copy_parts(args)
                if "from" not in flags:
                    sources.extend(srcs)
    return sources


# --- .dockerignore matching (Docker's rules: last matching line wins, `!` re-includes) ----------


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) for each pattern line of .dockerignore."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(f"^{regex}$")))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context leaves `path` out (it, or a folder above it, is excluded)."""
    parts = posixpath.normpath(path).strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for prefix in prefixes:
        for negate, regex in rules:
            if regex.match(prefix):
                ignored = not negate
        if ignored:
            return True
    return ignored


# --- compose loading ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as compose reads it (YAML anchors and `<<` merges resolved)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    """The compose services by name."""
    return compose["services"]


def argv_of(command: str | list[str]) -> list[str]:
    """A compose `command`/`test` as an argv list, whichever form it was written in."""
    return shlex.split(command) if isinstance(command, str) else list(command)


def health_test(service: dict) -> list[str] | None:
    """The argv of a service's enabled health check, or None."""
    check = service.get("healthcheck") or {}
    if check.get("disable") or not check.get("test"):
        return None
    test = argv_of(check["test"])
    return None if test == ["NONE"] else test


# --- Dockerfile ----------------------------------------------------------------------------------


def test_every_base_image_is_pinned_by_tag_and_the_runtime_is_slim_python(stages):
    """Bases are python:3.11-slim-bookworm and node:20-bookworm-slim, never an unpinned tag."""
    names = [s.name for s in stages if s.name]
    external = [s.base for s in stages if s.base not in names]
    for base in external:
        assert ":" in base, f"unpinned base image {base}"
        assert not base.endswith(":latest"), f"unpinned base image {base}"
    assert set(external) == {PYTHON_BASE, NODE_BASE}
    assert stages[-1].base == PYTHON_BASE
    assert len(stages) >= 3, "expected node assets, python builder and runtime stages"


def test_copy_from_names_a_stage_defined_earlier(stages):
    """`COPY --from=x` must name an earlier stage, or the build fails (or pulls an image x)."""
    for index, stage in enumerate(stages):
        earlier = {s.name for s in stages[:index] if s.name}
        for args in stage.args("COPY"):
            flags, _, _ = copy_parts(args)
            if "from" in flags:
                assert flags["from"] in earlier, f"COPY --from={flags['from']} in stage {index}"


def test_the_final_stage_runs_as_a_user_it_created_that_is_not_root(final):
    """The last USER of the image is not root, and the final stage creates that user."""
    users = final.args("USER")
    assert users, "the final stage never sets USER, so the app runs as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"the image runs as {users[-1]}"
    created = " ".join(final.args("RUN"))
    if user.isdigit():
        assert re.search(rf"(useradd|adduser)\b.*--uid[ =]{user}\b", created), (
            f"USER {user}, but no user with that uid is created in the final stage"
        )
    else:
        assert re.search(rf"(useradd|adduser)\b.*\b{re.escape(user)}\b", created), user


def test_the_final_stage_sets_python_environment_and_exposes_port_8000(final):
    """No .pyc writes in a read-only tree, unbuffered logs, and the port gunicorn binds."""
    env: dict[str, str] = {}
    for args in final.args("ENV"):
        env.update(env_pairs(args))
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    exposed = {word.split("/")[0] for args in final.args("EXPOSE") for word in args.split()}
    assert "8000" in exposed


def test_the_default_command_serves_the_app_factory_with_gunicorn_on_port_8000(final):
    """CMD is gunicorn, in exec form, bound to 0.0.0.0:8000, loading portal:create_app()."""
    argv = exec_form(final.args("CMD")[-1])
    assert argv[0] == "gunicorn"
    assert "portal:create_app()" in argv
    binds = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--bind", "-b")]
    binds += [a.split("=", 1)[1] for a in argv if a.startswith("--bind=")]
    assert binds == ["0.0.0.0:8000"], binds
    env: dict[str, str] = {}
    for args in final.args("ENV"):
        env.update(env_pairs(args))
    assert "--workers" in argv or "-w" in argv or env.get("WEB_CONCURRENCY"), (
        "gunicorn's worker count must come from --workers or WEB_CONCURRENCY"
    )


def test_the_runtime_keeps_templates_static_and_migrations_beside_the_portal_package(final):
    """create_app() looks for ../templates, ../static and ../migrations next to the imported
    `portal` package, so the tree goes into one folder that is first on PYTHONPATH."""
    env: dict[str, str] = {}
    for args in final.args("ENV"):
        env.update(env_pairs(args))
    workdir = final.args("WORKDIR")[-1]
    assert env.get("PYTHONPATH") == workdir, "`portal` must be imported from the copied tree"
    destinations = {}
    for args in final.args("COPY"):
        flags, sources, dest = copy_parts(args)
        for source in sources:
            key = f"{flags['from']}:{source}" if "from" in flags else source
            destinations[key.rstrip("/")] = posixpath.normpath(posixpath.join(workdir, dest))
    for folder in ("portal", "jobs", "templates", "static", "migrations"):
        assert destinations.get(folder) == f"{workdir}/{folder}", folder
    vendor = [d for k, d in destinations.items() if k.endswith("vendor") and ":" in k]
    assert vendor == [f"{workdir}/static/vendor"], vendor


def test_the_image_health_check_asks_healthz_with_python(final):
    """No curl in slim images: the HEALTHCHECK runs python against /healthz on port 8000."""
    checks = final.args("HEALTHCHECK")
    assert checks, "the final stage has no HEALTHCHECK"
    _, rest = split_flags(checks[-1])
    assert rest.startswith("CMD "), rest
    argv = exec_form(rest[4:].strip())
    assert argv[0] == "python"
    assert "http://127.0.0.1:8000/healthz" in " ".join(argv)


def _in_repository(source: str) -> bool:
    """A COPY source exists; a folder must hold a file, since git does not keep empty ones."""
    if source.strip("/.") == "":
        return True
    matches = (
        list(ROOT.glob(source.strip("/")))
        if re.search(r"[*?\[]", source)
        else [ROOT / source.strip("/")]
    )
    return any(
        m.is_file() or (m.is_dir() and any(p.is_file() for p in m.rglob("*"))) for m in matches
    )


def test_every_file_the_dockerfile_copies_is_in_the_repository(stages):
    """Each COPY source from the build context exists (a missing one fails `docker build`)."""
    missing = [src for src in local_copy_sources(stages) if not _in_repository(src)]
    assert not missing, f"the Dockerfile COPYs files that are not in the repository: {missing}"


def test_dockerignore_does_not_leave_out_anything_the_dockerfile_copies(stages):
    """A COPY source that .dockerignore excludes is missing from the build context."""
    rules = dockerignore_rules()
    excluded = [s for s in local_copy_sources(stages) if s != "." and is_ignored(s, rules)]
    assert not excluded, f".dockerignore excludes files the Dockerfile copies: {excluded}"


def test_dockerignore_keeps_secrets_local_state_and_host_builds_out_of_the_image():
    """Env files, venvs, node_modules, the instance folder and caches never reach the image."""
    rules = dockerignore_rules()
    for path in [
        ".env.production",
        ".env",
        ".git/config",
        ".venv/bin/python",
        "node_modules/htmx.org/package.json",
        "instance/portal.sqlite",
        "static/vendor/htmx.min.js",
        "portal/__pycache__/app.cpython-311.pyc",
        ".pytest_cache/v/cache",
        "tests/unit/test_deploy_files.py",
    ]:
        assert is_ignored(path, rules), f"{path} would be sent to the Docker build"


def test_the_project_install_in_the_builder_has_what_pyproject_needs(stages):
    """The builder runs `pip install .` on the context: pyproject.toml and its readme are in it."""
    rules = dockerignore_rules()
    assert "." in local_copy_sources(stages) or "pyproject.toml" in local_copy_sources(stages)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = ["pyproject.toml", "portal/__init__.py"]
    readme = pyproject.get("project", {}).get("readme")
    if isinstance(readme, str):
        needed.append(readme)
    elif isinstance(readme, dict) and "file" in readme:
        needed.append(readme["file"])
    for path in needed:
        assert (ROOT / path).exists(), f"{path} is missing"
        assert not is_ignored(path, rules), f".dockerignore leaves out {path}"


def test_the_node_stage_copies_only_packages_that_package_json_declares(stages):
    """Each node_modules/<package>/... file copied into static/vendor comes from package.json."""
    package = json.loads((ROOT / "package.json").read_text())
    declared = set(package.get("dependencies", {})) | set(package.get("devDependencies", {}))
    used = set()
    for stage in stages:
        for args in stage.args("RUN"):
            used |= set(re.findall(r"node_modules/((?:@[\w.-]+/)?[\w.-]+)/", args))
    assert used, "no vendor files are taken from node_modules"
    assert used <= declared, f"not in package.json: {sorted(used - declared)}"


def test_every_vendor_file_the_templates_load_is_built_into_the_image(stages):
    """A template that loads static/vendor/<file> needs the node stage to produce <file>."""
    built = set()
    for stage in stages:
        for args in stage.args("RUN"):
            built |= set(re.findall(r"node_modules/\S+/([\w.-]+\.(?:js|css))\b", args))
    wanted = set()
    for template in (ROOT / "templates").rglob("*.html"):
        wanted |= set(re.findall(r"vendor/([\w.-]+\.(?:js|css))", template.read_text()))
    assert wanted <= built, f"templates load vendor files the image lacks: {wanted - built}"


class _Healthz(BaseHTTPRequestHandler):
    """Answers GET /healthz with the status code the server was given."""

    def do_GET(self):
        status = self.server.status if self.path == "/healthz" else 404
        body = b'{"status": "ok"}' if status == 200 else b'{"status": "unavailable"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Keep the test output quiet."""


def _run_health_check(argv: list[str], port: int) -> int:
    """Run a `python -c ...` health check with its port 8000 replaced by `port`."""
    assert argv[0] == "python"
    argv = [sys.executable] + [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in argv[1:]]
    return subprocess.run(argv, capture_output=True, timeout=20).returncode


def _web_health_checks(final: Stage, services: dict[str, dict]) -> dict[str, list[str]]:
    _, rest = split_flags(final.args("HEALTHCHECK")[-1])
    test = health_test(services["web"])
    assert test, "compose's web service has no health check"
    assert test[0] == "CMD", test
    return {"image": exec_form(rest[4:].strip()), "compose web": test[1:]}


def test_the_web_health_checks_pass_on_200_and_fail_on_503_or_no_answer(final, services):
    """Run the image's and compose's web health-check commands against a local /healthz."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        for origin, argv in _web_health_checks(final, services).items():
            server.status = 200
            assert _run_health_check(argv, port) == 0, f"{origin}: failed on 200"
            server.status = 503
            assert _run_health_check(argv, port) != 0, f"{origin}: passed on 503"
    finally:
        server.shutdown()
        server.server_close()
    for origin, argv in _web_health_checks(final, services).items():
        assert _run_health_check(argv, port) != 0, f"{origin}: passed with nothing listening"


# --- docker-compose.yml ---------------------------------------------------------------------------


def test_compose_defines_the_production_services(services):
    """PostgreSQL, Redis, the one-shot migration, web and worker."""
    assert {"postgres", "redis", "migrate", "web", "worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


def test_every_app_service_merges_the_shared_x_app_block():
    """migrate, web and worker each start with `<<: *app`, so none drifts from the others."""
    root = yaml.compose(COMPOSE_FILE.read_text())
    top = {key.value: value for key, value in root.value}
    x_app = top["x-app"]
    merged_into = set()
    for name_node, service_node in top["services"].value:
        for key, value in service_node.value:
            if key.tag == "tag:yaml.org,2002:merge" and value is x_app:
                merged_into.add(name_node.value)
    assert merged_into == APP_SERVICES


def test_every_service_running_the_app_image_has_the_app_environment(compose, services):
    """Same image, same env file and at least the shared environment for every app container."""
    x_app = compose["x-app"]
    assert ".env.production" in x_app["env_file"]
    runs_app = {name for name, svc in services.items() if svc.get("image") == x_app["image"]}
    assert runs_app == APP_SERVICES
    for name in runs_app:
        service = services[name]
        assert service.get("build") == x_app["build"], name
        assert service["env_file"] == x_app["env_file"], name
        shared = x_app["environment"].items()
        assert shared <= service["environment"].items(), f"{name} overrides the shared env"


def test_the_app_points_at_the_compose_postgres_and_redis_in_production(compose):
    """DATABASE_URL uses psycopg 3 against `postgres`, REDIS_URL the `redis` service."""
    env = compose["x-app"]["environment"]
    assert env["PORTAL_ENV"] == "production"
    assert re.fullmatch(r"postgresql\+psycopg://[^@]+@postgres:5432/\S+", env["DATABASE_URL"])
    assert re.fullmatch(r"redis://redis:6379/\d+", env["REDIS_URL"])


def test_migrate_runs_the_upgrade_once_and_is_never_restarted(services):
    """A one-shot: restart policy "no" (the shared block's restart would loop it forever).
    The upgrade runs under the advisory lock, as the Kubernetes migration Job runs it."""
    migrate = services["migrate"]
    assert argv_of(migrate["command"]) == ["flask", "--app", "portal", "migrate-locked"]
    assert migrate.get("restart") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert not migrate.get("deploy", {}).get("replicas", 1) > 1


@pytest.mark.parametrize("name", sorted(SCALED_SERVICES))
def test_web_and_worker_start_only_after_a_successful_migration(services, name):
    """They wait for migrate to exit 0 and for Redis (and PostgreSQL) to be healthy."""
    depends = services[name]["depends_on"]
    assert isinstance(depends, dict), "the list form of depends_on has no conditions"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends.get("postgres", {}).get("condition", "service_healthy") == "service_healthy"


def test_web_runs_the_image_gunicorn_and_worker_runs_the_flask_worker(services):
    """web keeps the image's CMD (or says gunicorn itself); worker runs `flask ... worker`."""
    web_command = services["web"].get("command")
    if web_command is not None:
        argv = argv_of(web_command)
        assert argv[0] == "gunicorn"
        assert "portal:create_app()" in argv
    assert argv_of(services["worker"]["command"]) == ["flask", "--app", "portal", "worker"]


def test_every_long_running_service_has_a_health_check(services):
    """All but the one-shot migrate report health, and each `service_healthy` target can."""
    for name, service in services.items():
        if name != "migrate":
            assert health_test(service), f"{name} has no health check"
        for target, rule in (service.get("depends_on") or {}).items():
            if isinstance(rule, dict) and rule.get("condition") == "service_healthy":
                assert health_test(services[target]), f"{name} waits on {target}'s health"


def test_the_backing_services_check_their_own_readiness(services):
    """pg_isready for PostgreSQL, redis-cli ping for Redis."""
    assert "pg_isready" in " ".join(health_test(services["postgres"]))
    assert health_test(services["redis"])[-2:] == ["redis-cli", "ping"]


def test_the_worker_health_check_asks_redis_whether_this_worker_is_registered(services):
    """The image's HTTP check would mark every worker unhealthy: compose replaces it."""
    test = " ".join(health_test(services["worker"]))
    assert "8000" not in test
    for needed in ("Worker.all", "gethostname", "REDIS_URL"):
        assert needed in test


@pytest.mark.parametrize("name", sorted(SCALED_SERVICES))
def test_scaled_services_have_no_fixed_host_port_or_container_name(services, name):
    """`--scale` fails on a container_name or a fixed published port (the 2nd replica clashes)."""
    service = services[name]
    assert "container_name" not in service
    assert "ports" not in service, f"{name} publishes ports; reach it through the proxy"


def test_one_proxy_publishes_the_site_and_forwards_to_the_web_replicas(services):
    """A single published entry point that proxies to web:8000 (Docker DNS lists the replicas)."""
    publishers = {name for name, service in services.items() if service.get("ports")}
    assert publishers == {"proxy"}
    # The proxy runs deploy/caddy/Caddyfile, mounted read-only, which proxies to web:8000.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["proxy"]["volumes"]}
    config = argv_of(services["proxy"]["command"])
    caddyfile = mounts[config[config.index("--config") + 1]]
    assert "dynamic a web 8000" in (ROOT / caddyfile).read_text()
    assert "8000" in [str(port) for port in services["web"].get("expose", [])]


def test_redis_keeps_queued_jobs_and_postgres_keeps_data_in_named_volumes(compose, services):
    """Redis runs with appendonly yes; both data directories are declared named volumes."""
    command = argv_of(services["redis"]["command"])
    assert command[command.index("--appendonly") + 1] == "yes"
    declared = set(compose.get("volumes") or {})
    for name, path in [("redis", "/data"), ("postgres", "/var/lib/postgresql/data")]:
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts.get(path) in declared, f"{name} keeps {path} outside a named volume"


def test_the_env_example_lists_every_variable_compose_and_the_app_require():
    """.env.production.example names each production setting and each ${VAR} without default."""
    example = ENV_EXAMPLE.read_text()
    defined = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    compose_text = COMPOSE_FILE.read_text()
    required = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(?::?\?[^}]*)?\}", compose_text))
    missing = (set(PRODUCTION_SETTINGS) | required) - defined
    assert not missing, f".env.production.example lacks {sorted(missing)}"


def test_the_real_env_file_is_ignored_by_git():
    """.env.production holds the secrets: git must ignore it."""
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", ".env.production"],
        cwd=ROOT,
        capture_output=True,
    )
    assert result.returncode == 0, ".env.production is not in .gitignore"
