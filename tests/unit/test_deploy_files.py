"""What the container and deployment files must keep true for someone running them.

Dockerfile, docker-compose.yml and deploy/k8s/*.yaml are parsed (tests/support/deploy_files.py);
no Docker engine or cluster is needed. Command lines go through the real parser and every
probe is asked of the real app, so a renamed flag or route fails here, named by the service.
Whether each setting reaches each file, and credentials in the ConfigMap and compose, is
test_settings_everywhere.py's job.
"""

import re
from pathlib import Path

import pytest

from ordertrack.settings import Settings
from ordertrack.store.migrate import upgrade
from service.app import create_app
from tests.support.deploy_files import (
    COMPOSE,
    COMPOSE_APPS,
    DEPLOY_README,
    IMAGE_USER,
    K8S_APPS,
    PROCESSES,
    PYPROJECT,
    ROOT,
    SECRET,
    SECRET_KEYS,
    k8s_named,
    probe_paths,
    running,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('probes') / 'ordertrack.db'}"
    upgrade(url)
    app = create_app(Settings(database_url=url))
    yield app.test_client()
    app.extensions["ordertrack"].engine.dispose()


# ---------------------------------------------------------------- commands and probes


@pytest.mark.parametrize("where", PROCESSES)
def test_every_command_the_files_run_is_accepted_by_the_real_cli(where):
    assert PROCESSES[where].args().command


@pytest.mark.parametrize("where", probe_paths())
def test_every_probe_and_health_check_answers_200_from_the_real_app(where, client):
    path = probe_paths()[where]
    assert path, f"{where}: a health check that calls no URL of the app"
    assert client.get(path).status_code == 200, f"{where}: GET {path}"


@pytest.mark.parametrize("name", running("serve", K8S_APPS))
def test_k8s_web_is_probed_alive_and_ready_on_the_port_it_serves(name):
    container, serves = K8S_APPS[name].container, K8S_APPS[name].args().port
    ports = {p.get("name", p["containerPort"]): p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert "httpGet" in container.get(probe, {}), f"{name} has no HTTP {probe}"
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == serves, f"{name}: {probe} on {port}, serves {serves}"


@pytest.mark.parametrize("name", COMPOSE_APPS)
def test_compose_checks_health_only_where_something_serves_it(name):
    process = COMPOSE_APPS[name]
    if not process.runs("serve"):
        assert process.service.get("healthcheck", {}).get("disable") is True, (
            f"{name} serves no HTTP: the image's HEALTHCHECK would call it unhealthy forever"
        )
        return
    published = [str(port).rsplit(":", 1)[-1] for port in process.service.get("ports", [])]
    assert str(process.args().port) in published, f"{name} publishes {published} only"


# ----------------------------------------------------------- order, image, one sweeper


@pytest.mark.parametrize("name", COMPOSE_APPS)
def test_compose_service_starts_after_healthy_postgres_and_redis_and_migrations(name):
    depends = COMPOSE_APPS[name].service.get("depends_on", {})
    wanted = {"postgres": "service_healthy"}
    if not COMPOSE_APPS[name].runs("migrate"):
        wanted["redis"] = "service_healthy"
        wanted |= dict.fromkeys(running("migrate", COMPOSE_APPS), "service_completed_successfully")
    for other, condition in wanted.items():
        assert depends.get(other, {}).get("condition") == condition, f"{name} -> {other}"
        if condition == "service_healthy":
            assert COMPOSE["services"][other].get("healthcheck", {}).get("test"), other


def test_migrations_run_once_before_the_app_starts():
    (compose,) = running("migrate", COMPOSE_APPS)
    assert str(COMPOSE_APPS[compose].service.get("restart")) == "no", "restarts re-migrate"
    workloads = [K8S_APPS[name].workload for name in running("migrate", K8S_APPS)]
    assert [doc["kind"] for doc in workloads] == ["Job"], "k8s migrates in one Job only"
    assert workloads[0]["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    job = workloads[0]["metadata"]["name"]
    wait = rf"^kubectl wait --for=condition=complete job/{job}\b.*\n(.*\n)*?"
    applied = re.search(wait + r"kubectl apply -f deploy/k8s/\s*$", DEPLOY_README, re.MULTILINE)
    assert applied, f"deploy/README.md must wait for job/{job} before applying deploy/k8s/"


def test_every_process_runs_the_same_build():
    compose = {n: (p.service["build"], p.service.get("image")) for n, p in COMPOSE_APPS.items()}
    assert len(set(compose.values())) == 1, compose
    k8s = {name: process.container["image"] for name, process in K8S_APPS.items()}
    assert len(set(k8s.values())) == 1, k8s


@pytest.mark.parametrize("where", running("sweep"))
def test_the_sweeper_never_runs_twice_at_once(where):
    process = PROCESSES[where]
    if process.service:
        assert process.service.get("deploy", {}).get("replicas", 1) == 1, where
    if process.workload:
        spec = process.workload["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", where


# ------------------------------------------------------------ non-root, secrets, limits


def test_the_image_runs_as_a_numeric_non_root_user():
    assert IMAGE_USER.isdigit(), f"USER {IMAGE_USER}: runAsNonRoot can only verify a uid"
    assert IMAGE_USER != "0", "uid 0 is root"


@pytest.mark.parametrize("name", K8S_APPS)
def test_k8s_container_runs_as_the_image_user_on_a_read_only_root(name):
    pod, container = K8S_APPS[name].workload["spec"]["template"]["spec"], K8S_APPS[name].container
    own = container.get("securityContext", {})
    context = pod.get("securityContext", {}) | own
    assert context.get("runAsNonRoot") is True, name
    assert str(context.get("runAsUser", IMAGE_USER)) == IMAGE_USER, name
    assert own.get("readOnlyRootFilesystem") is True, name
    assert own.get("allowPrivilegeEscalation") is False, name
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = container.get("volumeMounts", [])
    writable = [Path(m["mountPath"]) for m in mounts if "emptyDir" in volumes[m["name"]]]
    for path in {"/tmp", K8S_APPS[name].env.get("PROMETHEUS_MULTIPROC_DIR", "/tmp")}:
        assert any(Path(path).is_relative_to(w) for w in writable), f"{name}: {path} read-only"


def test_the_real_secret_is_never_in_the_files():
    assert not k8s_named("Secret"), "`kubectl apply -f deploy/k8s/` would overwrite the Secret"
    assert not SECRET.get("data"), "base64 `data` hides what is committed: use stringData"
    for key, value in SECRET["stringData"].items():
        assert "CHANGE-ME" in value or "example" in value, f"{key} looks like a real value"
    assert f"kubectl create secret generic {SECRET['metadata']['name']}" in DEPLOY_README


@pytest.mark.parametrize("name", K8S_APPS)
def test_k8s_container_takes_secrets_by_reference_to_the_secret(name):
    container = K8S_APPS[name].container
    sources = container.get("envFrom", [])
    secrets = [s["secretRef"]["name"] for s in sources if "secretRef" in s]
    assert secrets == [SECRET["metadata"]["name"]], f"{name} reads {secrets}"
    configmaps = {s["configMapRef"]["name"] for s in sources if "configMapRef" in s}
    assert configmaps <= set(k8s_named("ConfigMap")), f"{name}: {configmaps}"
    literal = {e["name"] for e in container.get("env", []) if "value" in e}
    inlined = literal & SECRET_KEYS
    assert not inlined, f"{name} inlines {inlined}: reference the Secret"


def quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    number, unit = re.fullmatch(r"([\d.]+)([a-zA-Z]*)", str(text)).groups()
    return float(number) * units.get(unit, 1)


@pytest.mark.parametrize("name", K8S_APPS)
def test_k8s_container_has_requests_within_its_limits(name):
    resources = K8S_APPS[name].container.get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    assert {"cpu", "memory"} <= set(requests) and "memory" in limits, f"{name}: {resources}"
    for kind in set(requests) & set(limits):
        assert quantity(requests[kind]) <= quantity(limits[kind]), f"{name}: {kind}"


# --------------------------------------------------------------------------- the image


def glob_regex(pattern: str) -> re.Pattern[str]:
    """setuptools' package-data glob: `*` stays within a directory, `**/` spans any."""
    swap = {"**/": "(?:.*/)?", "*": "[^/]*"}
    parts = re.split(r"(\*\*/|\*)", pattern)
    return re.compile("".join(swap.get(part, re.escape(part)) for part in parts))


def test_every_data_file_in_the_packages_ships_in_the_wheel_the_image_installs():
    """The image installs a built wheel, not the work tree: a template or migration that
    [tool.setuptools.package-data] misses works in development and is absent in the image."""
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]
    unshipped = []
    for package in ("ordertrack", "service", "workers", "entry"):
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT)
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if path.suffix == ".py" and (path.parent / "__init__.py").exists():
                continue
            if not any(
                glob_regex(pattern).fullmatch(relative.relative_to(parent).as_posix())
                for parent in relative.parents
                for pattern in package_data.get(".".join(parent.parts), [])
            ):
                unshipped.append(relative.as_posix())
    assert not unshipped, f"not in [tool.setuptools.package-data]: {sorted(unshipped)}"
