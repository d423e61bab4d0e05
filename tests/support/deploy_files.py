"""The container and deployment files read once, for tests/unit/test_deploy_files.py: every
ordertrack process that docker-compose.yml, deploy/k8s/ and the Dockerfile start, as a
`Process` (command line, environment, and the YAML it came from), and every probe's path."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import yaml

from entry.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SECRET_TEXT = (ROOT / "deploy" / "secret.example.yaml").read_text()
SECRET = yaml.safe_load(SECRET_TEXT)
#: The Secret's keys, those left commented out (`# KEY: "CHANGE-ME"`) included.
SECRET_KEYS = {*SECRET["stringData"], *re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]*):", SECRET_TEXT, re.M)}
DEPLOY_README = (ROOT / "deploy" / "README.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]
K8S = [
    doc
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc
]


def k8s_named(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in K8S if doc["kind"] == kind}


def compose_env(service: dict) -> dict[str, str]:
    """As the container sees it: `${X:-default}` is the default; a name with no value is unset."""
    env = {k: str(v) for k, v in (service.get("environment") or {}).items() if v is not None}
    return {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", v) for k, v in env.items()}


def k8s_env(container: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= k8s_named("ConfigMap")[source["configMapRef"]["name"]]["data"]
        if "secretRef" in source:
            env |= SECRET["stringData"]
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return {key: str(value) for key, value in env.items()}


def dockerfile(keyword: str) -> str:
    """The last `keyword` instruction's arguments in the final stage (the image that runs), or
    "" when it has none."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    final = re.split(r"^FROM ", text, flags=re.MULTILINE)[-1]
    found = re.findall(rf"^{keyword} (.*)$", final, re.MULTILINE)
    return found[-1] if found else ""


@dataclass
class Process:
    """One ordertrack process a file starts: its command line, environment and sources."""

    argv: list[str]
    env: dict[str, str]
    service: dict = field(default_factory=dict)  # compose
    workload: dict = field(default_factory=dict)  # Kubernetes
    container: dict = field(default_factory=dict)

    @property
    def command(self) -> list[str]:
        """From the console script on (after tini or the like); empty if none is run."""
        starts = [i for i, word in enumerate(self.argv) if word in SCRIPTS]
        return self.argv[starts[0] :] if starts else []

    def runs(self, subcommand: str) -> bool:
        return self.command[1:2] == [subcommand]

    def args(self) -> argparse.Namespace:
        """What `ordertrack` sees, its defaults read from the container's environment."""
        assert self.command, f"{self.argv} runs no console script of [project.scripts]"
        with mock.patch.dict(os.environ, self.env, clear=True):
            try:
                return build_parser().parse_args(self.command[1:])
            except SystemExit:
                raise AssertionError(f"the CLI rejects `{shlex.join(self.argv)}`") from None


#: Services built from this repository's Dockerfile, by name.
COMPOSE_APPS = {
    name: Process([str(word) for word in s["command"]], compose_env(s), service=s)
    for name, s in COMPOSE["services"].items()
    if s.get("build")
}
#: Every container of every Deployment and Job, as 'workload/container'.
K8S_APPS = {
    f"{doc['metadata']['name']}/{c['name']}": Process(
        [*c.get("command", []), *c.get("args", [])], k8s_env(c), workload=doc, container=c
    )
    for doc in K8S
    if doc["kind"] in ("Deployment", "Job")
    for c in doc["spec"]["template"]["spec"]["containers"]
}
IMAGE_USER = dockerfile("USER").split(":")[0]
PROCESSES = {
    **{f"compose:{name}": process for name, process in COMPOSE_APPS.items()},
    **{f"k8s:{name}": process for name, process in K8S_APPS.items()},
    "Dockerfile:CMD": Process(yaml.safe_load(dockerfile("CMD") or "[]"), {}),
}


def running(subcommand: str, processes: dict[str, Process] = PROCESSES) -> list[str]:
    return [name for name, process in processes.items() if process.runs(subcommand)]


def probe_paths() -> dict[str, str]:
    """where -> the URL path of every HTTP probe and health check in the files ("" if none)."""
    paths = {
        f"k8s:{name}:{probe}": p.container[probe]["httpGet"]["path"]
        for name, p in K8S_APPS.items()
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
        if "httpGet" in p.container.get(probe, {})
    }
    checks = {f"compose:{n}": p.service.get("healthcheck", {}) for n, p in COMPOSE_APPS.items()}
    checks["Dockerfile:HEALTHCHECK"] = {"test": dockerfile("HEALTHCHECK")}
    for where, check in checks.items():
        if check.get("test") and not check.get("disable"):
            url = re.search(r"https?://[^/'\"\s]+(/[^'\"\s]*)", str(check["test"]))
            paths[where] = url.group(1) if url else ""
    return paths
