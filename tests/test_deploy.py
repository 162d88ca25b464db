"""The deployment recipes (deploy/), checked without a Docker engine or a cluster.

deploy/compose.yaml is validated against the Compose Specification schema (tests/data/
compose-spec/) after interpolating deploy/env.example; the Kubernetes manifests are rendered
with `kubectl kustomize` and validated, strictly, against the Kubernetes API schemas
(kubernetes-validate). Then what the recipe promises: the migration runs once before the
replicas, health checks and limits everywhere, a non-root read-only container, the secrets.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import REPO, TEST_DATA

from cds import create_app
from cds.errors import ConfigurationError

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
NGINX_CONF = DEPLOY / "nginx.conf"
KUSTOMIZE_EXAMPLE = DEPLOY / "kubernetes" / "example"
COMPOSE_SCHEMA = TEST_DATA / "compose-spec" / "compose_spec.json"
# The oldest Kubernetes minor still maintained upstream when this was written, and the newest
# the installed kubernetes-validate knows.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
KUBECTL_HINT = (
    "kubectl renders the Kubernetes manifests (`kubectl kustomize`); install it from the "
    "Kubernetes package repository (package `kubectl`)"
)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


# --------------------------------------------------------------------------- compose


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}`: an unset required one fails."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if not isinstance(node, str):
        return node

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"]
        value = env.get(name, "")
        if op.endswith("?") and not value:
            raise AssertionError(f"{name} is required: {arg}")
        return value if value or not op.endswith("-") else arg

    return INTERPOLATION.sub(one, node)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.Draft201909Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft201909Validator(schema)


def filled_env_example() -> dict[str, str]:
    """deploy/env.example with a value for each variable the operator must set."""
    return {name: value or f"test-{name.lower()}" for name, value in env_example().items()}


def test_the_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], compose_validator: jsonschema.Draft201909Validator
) -> None:
    resolved = interpolate(compose, filled_env_example())

    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in compose_validator.iter_errors(resolved)
    ]

    assert errors == []


def test_the_schema_check_would_catch_a_misspelt_key(
    compose: dict[str, Any], compose_validator: jsonschema.Draft201909Validator
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["calf-cds"]["healthcheck"]["intervall"] = "10s"

    assert not compose_validator.is_valid(broken)


def test_every_required_compose_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = {m["name"] for m in INTERPOLATION.finditer(text) if (m["op"] or "").endswith("?")}
    used = {m["name"] for m in INTERPOLATION.finditer(text)}

    assert required <= set(env_example())
    assert set(env_example()) - used == {"COMPOSE_PROJECT_NAME"}
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD is required"):
        interpolate(compose, {})


def test_the_migration_runs_once_before_the_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate, replicas = services["migrate"], services["calf-cds"]

    assert services["postgres"]["image"] == "postgres:15"
    assert migrate["command"] == ["calf-cds", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert replicas["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert replicas["deploy"]["replicas"] >= 2
    assert migrate["image"] == replicas["image"]
    assert migrate["environment"] == replicas["environment"]


def test_every_long_running_service_has_a_health_check_and_limits(
    compose: dict[str, Any],
) -> None:
    for name in ("postgres", "calf-cds", "nginx"):
        service = compose["services"][name]
        assert service["healthcheck"]["test"], name
        assert set(service["deploy"]["resources"]["limits"]) >= {"cpus", "memory"}, name
    assert set(compose["services"]["migrate"]["deploy"]["resources"]["limits"]) >= {"cpus"}


def test_the_replicas_run_read_only_with_auth_required_and_no_console(
    compose: dict[str, Any],
) -> None:
    replicas = compose["services"]["calf-cds"]
    environment = replicas["environment"]

    assert replicas["read_only"] is True
    assert "/tmp" in " ".join(replicas["tmpfs"])
    assert environment["CDS_AUTH_MODE"] == "required"
    assert environment["CDS_CONSOLE"] == "off"
    assert environment["CDS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["CDS_TRUSTED_ISSUERS"] == "/run/secrets/trusted_issuers"
    assert "trusted_issuers" in replicas["secrets"]
    assert replicas["command"][2:6] == ["--host", "0.0.0.0", "--port", "8080"]


def test_nginx_forwards_to_the_replicas_on_their_port(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    conf = NGINX_CONF.read_text(encoding="utf-8")
    published = interpolate(nginx["ports"], filled_env_example())[0]

    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert re.search(r"^\s*server calf-cds:8080 resolve\b", conf, re.M)
    assert f"listen {published.split(':')[-1]};" in conf
    assert conf.count("{") == conf.count("}")
    assert "proxy_request_buffering on;" in conf


# --------------------------------------------------------------------------- kubernetes


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(KUBECTL_HINT, pytrace=False)
    rendered = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZE_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [doc for doc in manifests if doc["kind"] == kind]
    return found


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_manifest_validates_strictly(
    manifests: list[dict[str, Any]], version: str
) -> None:
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_would_catch_a_misspelt_field(manifests: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(of_kind(manifests, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {}}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_the_recipe_has_every_part(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(doc["kind"] for doc in manifests)

    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
         "Job", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    )  # fmt: skip


def test_the_pods_probe_health_and_readiness_and_are_scraped(
    manifests: list[dict[str, Any]],
) -> None:
    template = of_kind(manifests, "Deployment")["spec"]["template"]
    [container] = template["spec"]["containers"]

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }
    assert container["command"][:2] == ["calf-cds", "serve"]
    assert container["ports"][0]["containerPort"] == 8080


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_the_containers_run_non_root_on_a_read_only_root_with_tmp_writable(
    manifests: list[dict[str, Any]], kind: str
) -> None:
    pod = of_kind(manifests, kind)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "emptyDir" in volume


def test_the_migration_job_runs_the_same_image_with_the_same_settings(
    manifests: list[dict[str, Any]],
) -> None:
    job = of_kind(manifests, "Job")
    [migrate] = job["spec"]["template"]["spec"]["containers"]
    [server] = of_kind(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]

    assert migrate["command"] == ["calf-cds", "db", "upgrade"]
    assert migrate["image"] == server["image"] == "registry.hospital.example/calf-cds:2026.2"
    assert migrate["envFrom"] == server["envFrom"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"


def test_the_secret_holds_the_three_secret_settings_and_the_pods_read_it(
    manifests: list[dict[str, Any]],
) -> None:
    secret = of_kind(manifests, "Secret")
    [server] = of_kind(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]

    assert set(secret["data"]) == {
        "CDS_DATABASE_URL",
        "CDS_TRUSTED_ISSUERS",
        "CDS_PATIENT_HASH_SALT",
    }
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in server["envFrom"]


def test_the_example_settings_are_accepted_by_the_service(
    manifests: list[dict[str, Any]], tmp_path: Path
) -> None:
    secret = {
        key: base64.b64decode(value).decode()
        for key, value in of_kind(manifests, "Secret")["data"].items()
    }
    config = of_kind(manifests, "ConfigMap")["data"]

    settings = {
        "database_url": f"sqlite:///{tmp_path / 'example.sqlite3'}",
        "auth_mode": config["CDS_AUTH_MODE"],
        "public_base_url": config["CDS_PUBLIC_BASE_URL"],
        "trusted_issuers": secret["CDS_TRUSTED_ISSUERS"],
        "patient_hash_salt": "0123456789abcdef0123456789abcdef",  # what the operator sets
    }

    # The example's placeholder salt is refused: an overlay copied unchanged never starts.
    with pytest.raises(ConfigurationError, match="CDS_PATIENT_HASH_SALT of at least 16"):
        create_app({**settings, "patient_hash_salt": secret["CDS_PATIENT_HASH_SALT"]})
    create_app(settings)  # raises ConfigurationError at startup for a bad value, as below
    with pytest.raises(ConfigurationError, match="must be an https URL"):
        create_app(
            {
                **settings,
                "trusted_issuers": secret["CDS_TRUSTED_ISSUERS"].replace(
                    "https://ehr.hospital.example/interconnect-prd/api", "http://ehr.example/api", 1
                ),
            }
        )
    assert secret["CDS_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_autoscaler_and_the_disruption_budget_cover_the_deployment(
    manifests: list[dict[str, Any]],
) -> None:
    deployment = of_kind(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa, pdb = (
        of_kind(manifests, "HorizontalPodAutoscaler"),
        of_kind(manifests, "PodDisruptionBudget"),
    )
    service = of_kind(manifests, "Service")

    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


# --------------------------------------------------------------------------- Dockerfile


def test_the_image_installs_from_the_lock_and_runs_as_non_root() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")

    assert "COPY scripts/uv-requirements.txt" in dockerfile
    assert "--require-hashes" in dockerfile
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert re.findall(r"uv sync --locked --no-dev", dockerfile)
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert '"--host", "0.0.0.0", "--port", "8080"' in dockerfile
