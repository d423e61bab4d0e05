"""Every setting reaches every way of running ordertrack.

The names come from the settings class itself (`ordertrack.settings.variable_names()`, which
runs the reading code), so a new setting fails here, by name, until README.md's table,
docker-compose.yml, the Kubernetes ConfigMap or Secret and deploy/README.md all carry it. A
family set once per source (`WEBHOOK_SECRET_<SOURCE>`) counts where the pattern or one
source's variable appears. Credentials stay out of every committed value.
"""

from __future__ import annotations

import re
from dataclasses import fields
from functools import cache
from pathlib import Path

import pytest
import yaml

from ordertrack.notifications.policy_file import load_rules
from ordertrack.settings import Settings, variable_names

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMPOSE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
CONFIGMAP = K8S_DIR / "configmap.yaml"
SECRET_EXAMPLE = ROOT / "deploy" / "secret.example.yaml"
DEPLOY_README = ROOT / "deploy" / "README.md"

#: The compose services that run ordertrack (one image, one shared environment).
APP_SERVICES = ("migrate", "web", "worker", "sweeper")
#: The Kubernetes workloads that send notifications or flag delays: they read the policy.
POLICY_READERS = ("ordertrack-web", "ordertrack-worker", "ordertrack-sweeper")
#: Read by the command line (entry/cli.py) for `serve` and `worker`, not by the settings.
COMMAND_LINE_VARIABLES = ("PORT", "WEB_CONCURRENCY", "WORKER_METRICS_PORT")
#: A variable naming one of these holds a credential: only a secret store may hold its value.
CREDENTIAL_WORDS = ("PASSWORD", "SECRET", "TOKEN")
#: A variable's name as it is written in prose, tables and YAML comments.
NAME = re.compile(r"\b[A-Z][A-Z0-9_]*[A-Z0-9](?:_<SOURCE>)?")

VARIABLES = variable_names()


def is_credential(name: str) -> bool:
    return any(word in name for word in CREDENTIAL_WORDS)


CREDENTIALS = [name for name in VARIABLES if is_credential(name)]


def carried(variable: str, names: set[str]) -> list[str]:
    """The names that carry `variable`: itself, or for a per-source family any source's."""
    if variable.endswith("<SOURCE>"):
        prefix = variable.removesuffix("<SOURCE>")
        return sorted(name for name in names if name.startswith(prefix))
    return [variable] if variable in names else []


# ----------------------------------------------------------------------------- readers


@cache
def readme_table_names() -> set[str]:
    """The names in the first cell of each row of README.md's settings table."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in NAME.findall(row.split("|")[1])}


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_env(service: str) -> dict[str, str | None]:
    environment = compose()["services"][service].get("environment") or {}
    return {key: None if value is None else str(value) for key, value in environment.items()}


def yaml_keys(path: Path, section: str) -> set[str]:
    """A manifest's keys under `section`, and those left commented out (`# KEY: "..."`), which
    document a setting that stays unset unless the operator turns it on."""
    document = yaml.safe_load(path.read_text())
    commented = re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]*):", path.read_text(), re.MULTILINE)
    return {*(document.get(section) or {}), *commented}


def configmap_names() -> set[str]:
    return yaml_keys(CONFIGMAP, "data")


def secret_names() -> set[str]:
    return yaml_keys(SECRET_EXAMPLE, "stringData")


def deploy_readme_names() -> set[str]:
    return set(NAME.findall(DEPLOY_README.read_text()))


def configmap_value(name: str) -> str:
    return str(yaml.safe_load(CONFIGMAP.read_text())["data"][name])


def k8s_documents() -> list[dict]:
    return [
        document
        for path in sorted(K8S_DIR.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def deployment_pod_spec(name: str) -> dict:
    (deployment,) = [
        doc
        for doc in k8s_documents()
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name
    ]
    return deployment["spec"]["template"]["spec"]


# ---------------------------------------------------------------- the list of settings


def test_the_list_comes_from_the_reading_code_with_per_source_families_as_patterns():
    assert len(VARIABLES) == len(set(VARIABLES)) > 40
    for name in ("DATABASE_URL", "SMTP_TIMEOUT", "RETURN_POLICY_TEXT", "SLA_PICKUP_DAYS"):
        assert name in VARIABLES
    assert "WEBHOOK_SECRET_<SOURCE>" in VARIABLES
    assert not [
        name for name in VARIABLES if name.startswith("WEBHOOK_SECRET_") and "<" not in name
    ]


def test_the_list_never_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("SMTP_USERNAME", "login")  # without TLS: from_env() would refuse it
    monkeypatch.setenv("WEBHOOK_SECRET_SHOPIFY", "a-real-secret")
    with pytest.raises(ValueError, match="SMTP_USERNAME"):
        Settings.from_env()
    assert variable_names() == VARIABLES


def test_every_field_the_settings_keep_out_of_their_repr_is_named_as_a_credential():
    hidden = [field.name.upper() for field in fields(Settings) if not field.repr]
    assert hidden, "Settings hides no field from its repr"
    assert [name for name in hidden if not is_credential(name)] == []


def test_every_row_of_the_readme_table_is_read_by_the_settings_or_the_command_line():
    known = [*VARIABLES, *COMMAND_LINE_VARIABLES]
    unread = [
        name for name in sorted(readme_table_names()) if not any(carried(v, {name}) for v in known)
    ]
    assert unread == [], "README.md's settings table names variables nothing reads"


# --------------------------------------------------------------------- each setting


@pytest.mark.parametrize("variable", VARIABLES)
def test_the_readme_settings_table_has_a_row_for(variable):
    assert carried(variable, readme_table_names()), f"README.md's settings table lacks {variable}"


@pytest.mark.parametrize("variable", VARIABLES)
def test_docker_compose_passes_to_every_app_service(variable):
    for service in APP_SERVICES:
        assert carried(variable, set(compose_env(service))), (
            f"docker-compose.yml does not pass {variable} to {service}"
        )


@pytest.mark.parametrize("variable", VARIABLES)
def test_kubernetes_configmap_or_secret_holds(variable):
    where = secret_names() if is_credential(variable) else configmap_names() | secret_names()
    assert carried(variable, where), (
        f"neither deploy/k8s/configmap.yaml nor deploy/secret.example.yaml lists {variable}"
    )


@pytest.mark.parametrize("variable", VARIABLES)
def test_deploy_readme_documents(variable):
    assert carried(variable, deploy_readme_names()), f"deploy/README.md never names {variable}"


# ----------------------------------------------------------------------- credentials


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_a_credential_never_sits_in_the_configmap(credential):
    assert not carried(credential, configmap_names()), (
        f"{credential} is a credential: it belongs in the Secret, not deploy/k8s/configmap.yaml"
    )


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_compose_takes_a_credential_from_the_environment_never_a_value(credential):
    for service in APP_SERVICES:
        environment = compose_env(service)
        for name in carried(credential, set(environment)):
            value = environment[name]
            from_environment = re.fullmatch(rf"\$\{{{name}(:\?[^}}]*)?\}}", value or "")
            assert value is None or from_environment, (
                f"{service}: {name} must come from the shell or .env, not {value!r}"
            )


# --------------------------------------------------------------- the policy's volume


def test_compose_mounts_a_policy_that_loads_where_notification_policy_file_points():
    for service in APP_SERVICES:
        path = compose_env(service)["NOTIFICATION_POLICY_FILE"]
        assert path and path.startswith("/"), f"{service}: NOTIFICATION_POLICY_FILE={path!r}"
        mounts = [str(volume) for volume in compose()["services"][service].get("volumes", [])]
        bound = [m for m in mounts if m.split(":")[-2:] in ([path, "ro"], [path])]
        assert bound, f"{service}: nothing is mounted at {path} ({mounts})"
        host = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", bound[0].rsplit(":", 2)[0])
        assert (ROOT / host).is_file(), f"{service} mounts {host}, which is not in the repository"
        assert load_rules(str(ROOT / host)).channels


def test_kubernetes_mounts_the_policy_configmap_where_notification_policy_file_points():
    path = Path(configmap_value("NOTIFICATION_POLICY_FILE"))
    for workload in POLICY_READERS:
        spec = deployment_pod_spec(workload)
        (container,) = spec["containers"]
        mounts = [
            m for m in container.get("volumeMounts", []) if m["mountPath"] == str(path.parent)
        ]
        assert mounts, f"{workload} mounts nothing at {path.parent}"
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        source = volumes[mounts[0]["name"]].get("configMap")
        assert source, f"{workload}: the policy's volume is not a ConfigMap"
        assert mounts[0].get("readOnly") is True, workload
        command = f"kubectl create configmap {source['name']} --from-file={path.name}="
        assert command in DEPLOY_README.read_text(), f"deploy/README.md lacks `{command}...`"
