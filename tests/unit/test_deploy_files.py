"""Static specifications of the container and deployment files.

Dockerfile, .dockerignore, docker-compose.yml and deploy/k8s/*.yaml are read and parsed
here; no Docker engine or cluster is needed. Command lines are checked against the real
command-line parser (`service.cli.build_parser()`), settings against README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
SECRET_EXAMPLE = ROOT / "deploy" / "secret.example.yaml"
DEPLOY_README = ROOT / "deploy" / "README.md"
README = ROOT / "README.md"
PYPROJECT = ROOT / "pyproject.toml"

APP_SERVICES = ("migrate", "web", "worker", "sweeper")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "sweeper")
KNOWN_SUBCOMMANDS = {"migrate", "serve", "worker", "sweep"}
DOCUMENTED_FAMILIES = ("WEBHOOK_SECRET_", "SMTP_", "DATABASE_", "REDIS_")
RSS_PER_PROCESS = 80 * 2**20  # ~80 MB per gunicorn worker / Dramatiq worker process
REQUIRED_SECRETS = (
    "DATABASE_URL",
    "REDIS_URL",
    "WEBHOOK_SECRET_SHOPIFY",
    "WEBHOOK_SECRET_EASYPOST",
    "API_TOKEN",
)


# --------------------------------------------------------------------------- helpers


@cache
def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_service(name: str) -> dict:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def compose_env(service: dict) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {key: value for key, value in pairs}
    return {key: (None if value is None else str(value)) for key, value in env.items()}


def compose_argv(service: dict) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def ordertrack_argv(argv: list[str]) -> list[str] | None:
    """The `ordertrack ...` part of a command line (after any init such as tini)."""
    for index, word in enumerate(argv):
        if Path(word).name == "ordertrack":
            return argv[index:]
    return None


def duration_seconds(text: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(text))
    assert parts, f"not a compose duration: {text!r}"
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def memory_bytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    assert match, f"not a memory quantity: {quantity!r}"
    units = {
        None: 1,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 10**3,
        "M": 10**6,
        "G": 10**9,
        "T": 10**12,
    }
    return float(match.group(1)) * units[match.group(2)]


def cpu_cores(quantity: str) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


@cache
def k8s_documents() -> tuple[tuple[str, dict], ...]:
    files = sorted([*K8S_DIR.glob("*.yaml"), *K8S_DIR.glob("*.yml")])
    assert files, f"no manifests in {K8S_DIR}"
    docs = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return tuple(docs)


def k8s_objects(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc.get("kind") == kind}


def k8s_object(kind: str, name: str) -> dict:
    objects = k8s_objects(kind)
    assert name in objects, f"deploy/k8s has no {kind} {name!r} (has {sorted(objects)})"
    return objects[name]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def k8s_workloads() -> dict[str, dict]:
    """name -> pod template, for every workload in deploy/k8s."""
    workloads = {}
    for _, doc in k8s_documents():
        if doc.get("kind") in WORKLOAD_KINDS:
            workloads[doc["metadata"]["name"]] = doc["spec"]["template"]
    assert workloads, "deploy/k8s defines no workloads"
    return workloads


def k8s_containers() -> list[tuple[str, dict, dict]]:
    """(workload name, pod spec, container) for every container of every workload."""
    return [
        (name, template["spec"], container)
        for name, template in k8s_workloads().items()
        for container in template["spec"]["containers"]
    ]


def k8s_argv(container: dict) -> list[str]:
    return [str(word) for word in [*container.get("command", []), *container.get("args", [])]]


def main_container(kind: str, name: str) -> dict:
    containers = k8s_object(kind, name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{name}: expected one container"
    return containers[0]


@cache
def secret_example() -> dict:
    return yaml.safe_load(SECRET_EXAMPLE.read_text())


def secret_keys() -> set[str]:
    doc = secret_example()
    return {*(doc.get("stringData") or {}), *(doc.get("data") or {})}


def configmap_data(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (k8s_object("ConfigMap", name).get("data") or {}).items()}


def container_env(container: dict) -> dict[str, str | None]:
    """Every variable a container receives: envFrom sources, then its own env entries."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmap_data(source["configMapRef"]["name"]))
        if "secretRef" in source:
            assert source["secretRef"]["name"] == secret_example()["metadata"]["name"]
            env.update(dict.fromkeys(secret_keys()))
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value")
    return env


# Dockerfile ------------------------------------------------------------------------


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(KEYWORD, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return tuple(instructions)


def dockerfile_stages() -> list[dict]:
    """Build stages in order: {'base', 'name', 'instructions'}; global ARGs substituted."""
    global_args: dict[str, str] = {}
    stages: list[dict] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            base = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0]
            )
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append({"base": base, "name": name, "instructions": []})
        elif not stages:
            if keyword == "ARG":
                key, _, default = rest.partition("=")
                global_args[key.strip()] = default.strip().strip("\"'")
        else:
            stages[-1]["instructions"].append((keyword, rest))
    assert stages, "Dockerfile has no FROM"
    return stages


def final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]["instructions"]


def exec_form(rest: str) -> list[str]:
    """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD, or the shell words."""
    text = rest.strip()
    if text.startswith("["):
        return json.loads(text)
    return shlex.split(text)


def dockerfile_cmd() -> list[str]:
    cmds = [rest for keyword, rest in final_stage() if keyword == "CMD"]
    assert cmds, "the final Dockerfile stage has no CMD"
    return exec_form(cmds[-1])


def dockerfile_entrypoint() -> list[str]:
    entries = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    return exec_form(entries[-1]) if entries else []


def dockerfile_user() -> str:
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "the final Dockerfile stage sets no USER: the container would run as root"
    return users[-1].strip()


def dockerfile_uid() -> int:
    user = dockerfile_user().split(":")[0]
    assert user.isdigit(), (
        f"USER {user!r} is a name: Kubernetes' runAsNonRoot can only verify a numeric uid"
    )
    return int(user)


def dockerfile_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for word in shlex.split(rest):
                if "=" in word:
                    key, _, value = word.partition("=")
                    env[key] = value
    return env


# .dockerignore ---------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def dockerignored(path: str) -> bool:
    """Whether `path` (relative to the build context) is left out, Docker-style."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = _ignore_regex(pattern)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


# command lines -----------------------------------------------------------------------


def deployed_command_lines() -> list[tuple[str, list[str]]]:
    """(where, argv) for every `ordertrack ...` command run by compose, k8s or the image."""
    lines = []
    for name, service in compose()["services"].items():
        argv = ordertrack_argv(compose_argv(service))
        if argv:
            lines.append((f"docker-compose.yml:{name}", argv))
    for workload, _, container in k8s_containers():
        argv = ordertrack_argv(k8s_argv(container))
        if argv:
            lines.append((f"deploy/k8s:{workload}/{container['name']}", argv))
    cmd = ordertrack_argv(dockerfile_cmd())
    if cmd:
        lines.append(("Dockerfile:CMD", cmd))
    return lines


def documented_command_lines() -> list[tuple[str, list[str]]]:
    """`ordertrack <subcommand>` mentioned in backticks in deploy/README.md."""
    text = DEPLOY_README.read_text()
    return [
        ("deploy/README.md", ["ordertrack", sub])
        for sub in re.findall(r"`ordertrack ([a-z][a-z-]*)", text)
    ]


def cli_subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("service.cli.build_parser() has no subcommands")


# ------------------------------------------------------------------ docker-compose.yml


def test_compose_defines_postgres_redis_migrate_web_worker_and_sweeper():
    services = set(compose()["services"])
    expected = {"postgres", "redis", "migrate", "web", "worker", "sweeper"}
    assert expected <= services, f"missing services: {sorted(expected - services)}"


def test_compose_web_runs_ordertrack_serve_after_migrate_completed_and_redis_is_healthy():
    web = compose_service("web")
    assert ordertrack_argv(compose_argv(web))[:2] == ["ordertrack", "serve"]
    depends = web.get("depends_on")
    assert isinstance(depends, dict), "web.depends_on needs conditions (long form)"
    assert depends.get("migrate", {}).get("condition") == "service_completed_successfully"
    assert depends.get("redis", {}).get("condition") == "service_healthy"


def test_compose_web_publishes_port_8000_and_is_the_only_service_that_publishes_one():
    services = compose()["services"]
    publishing = sorted(name for name, service in services.items() if service.get("ports"))
    assert publishing == ["web"], f"services publishing ports: {publishing}"
    assert any(str(port).endswith(":8000") for port in services["web"]["ports"])


def test_compose_worker_runs_ordertrack_worker_after_migrate_and_redis():
    worker = compose_service("worker")
    assert ordertrack_argv(compose_argv(worker))[:2] == ["ordertrack", "worker"]
    depends = worker.get("depends_on") or {}
    assert depends.get("migrate", {}).get("condition") == "service_completed_successfully"
    assert depends.get("redis", {}).get("condition") == "service_healthy"


def test_compose_sweeper_runs_ordertrack_sweep_as_a_single_service():
    sweeper = compose_service("sweeper")
    assert ordertrack_argv(compose_argv(sweeper))[:2] == ["ordertrack", "sweep"]
    replicas = (sweeper.get("deploy") or {}).get("replicas", 1)
    assert replicas == 1, "the sweeper must run once, not scaled"


def test_compose_migrate_is_one_shot_and_waits_for_a_healthy_postgres():
    migrate = compose_service("migrate")
    assert ordertrack_argv(compose_argv(migrate)) == ["ordertrack", "migrate"]
    assert str(migrate.get("restart", "no")) in {"no", "False", "false"}, (
        "migrate is one-shot: restarting it would keep re-running migrations"
    )
    depends = migrate.get("depends_on") or {}
    assert depends.get("postgres", {}).get("condition") == "service_healthy"


def test_compose_long_running_services_restart_unless_stopped():
    for name in LONG_RUNNING:
        assert compose_service(name).get("restart") == "unless-stopped", name


def test_compose_every_app_service_gets_database_url_and_redis_url():
    for name in APP_SERVICES:
        env = compose_env(compose_service(name))
        database_url = env.get("DATABASE_URL") or ""
        redis_url = env.get("REDIS_URL") or ""
        assert database_url.startswith("postgresql+psycopg://"), (name, database_url)
        assert "@postgres:5432/" in database_url, (name, database_url)
        assert redis_url.startswith("redis://redis:6379"), (name, redis_url)


def test_compose_app_services_share_one_environment_and_one_image():
    services = [compose_service(name) for name in APP_SERVICES]
    images = {service.get("image") for service in services}
    assert len(images) == 1 and None not in images, f"app images differ: {images}"
    assert all(service.get("build") for service in services), "every app service builds ."
    shared = compose().get("x-ordertrack-env")
    assert isinstance(shared, dict), "shared env belongs in an x-ordertrack-env anchor"
    for name, service in zip(APP_SERVICES, services, strict=True):
        env = compose_env(service)
        missing = sorted(set(shared) - set(env))
        assert not missing, f"{name} lacks shared settings {missing}"


def test_compose_secrets_are_required_never_given_a_default():
    shared = compose()["x-ordertrack-env"]
    for key in ("WEBHOOK_SECRET_SHOPIFY", "WEBHOOK_SECRET_EASYPOST", "API_TOKEN"):
        value = str(shared.get(key))
        assert re.fullmatch(rf"\$\{{{key}:\?[^}}]*\}}", value), (
            f"{key} must be ${{{key}:?...}} so compose refuses to start without it: {value!r}"
        )


def test_compose_postgres_redis_and_web_have_healthchecks():
    postgres = compose_service("postgres")["healthcheck"]["test"]
    redis = compose_service("redis")["healthcheck"]["test"]
    web = compose_service("web")["healthcheck"]["test"]
    assert "pg_isready" in " ".join(postgres)
    assert "redis-cli" in " ".join(redis) and "ping" in " ".join(redis)
    web_text = " ".join(web)
    assert "/healthz" in web_text and "PORT" in web_text
    assert "curl" not in web_text and "wget" not in web_text, "python:slim has neither"


def test_compose_services_without_an_http_server_turn_off_the_image_healthcheck():
    for name in ("migrate", "worker", "sweeper"):
        healthcheck = compose_service(name).get("healthcheck") or {}
        assert healthcheck.get("disable") is True, (
            f"{name} inherits the image's /healthz HEALTHCHECK but serves no HTTP: "
            "it would be reported unhealthy forever"
        )


def test_compose_postgres_16_keeps_its_data_in_a_named_volume():
    postgres = compose_service("postgres")
    assert str(postgres["image"]).startswith("postgres:16")
    mounts = [str(v) for v in postgres.get("volumes", [])]
    named = [m for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert named, "PostgreSQL data must survive `docker compose down`"
    assert named[0].split(":")[0] in (compose().get("volumes") or {})


def test_compose_redis_7_persists_the_queue_with_aof_fsync_every_second():
    redis = compose_service("redis")
    assert str(redis["image"]).startswith("redis:7")
    argv = compose_argv(redis)
    joined = " ".join(argv)
    assert "--appendonly yes" in joined and "--appendfsync everysec" in joined, argv
    mounts = [str(v) for v in redis.get("volumes", [])]
    assert any(m.endswith(":/data") for m in mounts), "AOF lives in /data: mount a volume"


def test_compose_worker_scales_out_and_gets_time_to_finish_in_flight_tasks():
    worker = compose_service("worker")
    assert "container_name" not in worker, "a fixed container_name prevents --scale"
    assert not worker.get("ports"), "published ports prevent --scale"
    assert (worker.get("deploy") or {}).get("replicas", 1) >= 2
    grace = duration_seconds(worker.get("stop_grace_period", "10s"))
    assert grace >= 60, f"worker stop_grace_period {grace}s: compose's 10 s cuts tasks off"


# ------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_one_python_3_11_slim_base():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "builder stage + runtime stage"
    bases = {stage["base"] for stage in stages}
    assert len(bases) == 1, f"the copied venv needs the builder's python: {bases}"
    assert bases.pop().startswith("python:3.11-slim")
    copies_from = [rest for keyword, rest in final_stage() if keyword == "COPY"]
    assert any(rest.startswith("--from=") for rest in copies_from), (
        "the final stage takes its build from an earlier stage"
    )


def test_dockerfile_final_stage_runs_as_a_fixed_numeric_non_root_user():
    uid = dockerfile_uid()
    assert uid != 0, "uid 0 is root"
    assert uid >= 1000, f"uid {uid} may collide with a system account"


def test_dockerfile_final_stage_has_no_build_tools_and_no_source_tree():
    tools = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|git|[\w.+-]+-dev)\b")
    for keyword, rest in final_stage():
        if keyword == "RUN":
            assert not tools.search(rest), f"build tool in the final stage: {rest}"
            assert "pip install" not in rest, f"the final stage installs nothing: {rest}"
        if keyword in {"COPY", "ADD"} and not rest.startswith("--from="):
            raise AssertionError(f"final stage copies from the build context: {rest}")


def test_dockerfile_never_installs_the_test_extra():
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN" and "pip" in rest:
            assert not re.search(r"\[[^\]]*\btest\b[^\]]*\]", rest), rest
            assert " -e " not in f" {rest} ", f"editable installs point at /src: {rest}"


def test_dockerfile_healthcheck_uses_python_on_healthz_at_port():
    checks = [rest for keyword, rest in final_stage() if keyword == "HEALTHCHECK"]
    assert checks, "the final stage has no HEALTHCHECK"
    text = checks[-1]
    assert "/healthz" in text and "127.0.0.1" in text and "PORT" in text, text
    _, _, command = text.partition("CMD")
    argv = exec_form(command)
    assert Path(argv[0]).name.startswith("python"), f"no curl in python:slim: {argv}"


def test_dockerfile_cmd_is_ordertrack_serve_from_a_declared_console_script():
    cmd = dockerfile_cmd()
    scripts = pyproject()["project"]["scripts"]
    assert cmd[0] in scripts, f"CMD {cmd[0]!r} is not in [project.scripts] {sorted(scripts)}"
    assert cmd[1:] == ["serve"], cmd
    entrypoint = dockerfile_entrypoint()
    if entrypoint:
        assert Path(entrypoint[0]).name in {"tini", "dumb-init"}, (
            f"ENTRYPOINT {entrypoint} would swallow `docker run IMAGE ordertrack worker`"
        )


def test_dockerfile_sets_unbuffered_no_bytecode_python_and_exposes_8000():
    env = dockerfile_env(final_stage())
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    exposed = {rest.split("/")[0] for keyword, rest in final_stage() if keyword == "EXPOSE"}
    assert "8000" in exposed


def test_dockerfile_builder_copies_everything_the_wheel_build_needs():
    project = pyproject()
    needed = ["pyproject.toml", project["project"]["readme"]]
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed += [pattern.rstrip("*").rstrip(".") for pattern in includes]
    builder = dockerfile_stages()[0]["instructions"]
    copied = [
        word.rstrip("/")
        for keyword, rest in builder
        if keyword == "COPY" and not rest.startswith("--from=")
        for word in shlex.split(rest)[:-1]
    ]
    for path in needed:
        assert path in copied or "." in copied, f"the builder never copies {path}"
        probe = f"{path}/__init__.py" if (ROOT / path).is_dir() else path
        assert not dockerignored(path), f".dockerignore leaves out {path}"
        assert not dockerignored(probe), f".dockerignore leaves out {probe}"


def test_every_data_file_in_the_packages_ships_in_the_wheel_the_image_installs():
    """The image installs a built wheel, not the work tree: a template or migration that
    [tool.setuptools.package-data] misses works in development and is absent in the image."""
    setuptools_cfg = pyproject()["tool"]["setuptools"]
    includes = setuptools_cfg["packages"]["find"]["include"]
    package_data = setuptools_cfg.get("package-data", {})
    roots = sorted({pattern.split(".")[0].rstrip("*") for pattern in includes})
    unshipped = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("*")):
            relative = path.relative_to(ROOT)
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if path.suffix == ".py" and (path.parent / "__init__.py").exists():
                continue  # a module of a package: always in the wheel
            shipped = False
            for parent in relative.parents:
                if not (ROOT / parent / "__init__.py").exists():
                    continue
                package = ".".join(parent.parts)
                inside = relative.relative_to(parent).as_posix()
                patterns = [*package_data.get(package, []), *package_data.get("*", [])]
                if any(_ignore_regex(pattern).fullmatch(inside) for pattern in patterns):
                    shipped = True
            if not shipped:
                unshipped.append(relative.as_posix())
    assert not unshipped, f"not in [tool.setuptools.package-data]: {unshipped}"


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "ordertrack.db",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        "ordertrack/__pycache__/statuses.cpython-311.pyc",
        ".env",
        "tests/unit/test_deploy_files.py",
    ):
        assert dockerignored(path), f".dockerignore lets {path} into the build context"


# --------------------------------------------------------------------- command lines


def test_every_ordertrack_subcommand_deployed_is_one_of_migrate_serve_worker_sweep():
    lines = deployed_command_lines() + documented_command_lines()
    assert lines
    for where, argv in lines:
        assert len(argv) >= 2 and argv[1] in KNOWN_SUBCOMMANDS, f"{where}: {argv}"


def test_every_ordertrack_command_line_deployed_parses_with_the_real_cli():
    from service.cli import build_parser  # written by the CLI's owner

    parser = build_parser()
    subcommands = cli_subcommands(parser)
    for where, argv in deployed_command_lines() + documented_command_lines():
        assert argv[1] in subcommands, f"{where}: the CLI has no `{argv[1]}` ({subcommands})"
        try:
            parser.parse_args(argv[1:])
        except SystemExit as exc:
            raise AssertionError(f"{where}: `{shlex.join(argv)}` is rejected by the CLI") from exc


# ------------------------------------------------------------------------- Kubernetes


def test_k8s_manifests_are_namespace_less_named_objects():
    for filename, doc in k8s_documents():
        assert doc.get("apiVersion") and doc.get("kind"), filename
        assert doc.get("metadata", {}).get("name"), filename
        assert "namespace" not in doc["metadata"], f"{filename}: apply with -n instead"


def test_k8s_defines_config_migrate_job_web_worker_sweeper_service_and_pdb():
    k8s_object("ConfigMap", "ordertrack-config")
    k8s_object("Job", "ordertrack-migrate")
    k8s_object("Deployment", "ordertrack-web")
    k8s_object("Deployment", "ordertrack-worker")
    k8s_object("Deployment", "ordertrack-sweeper")
    k8s_object("Service", "ordertrack-web")
    assert k8s_objects("PodDisruptionBudget"), "no PodDisruptionBudget for web"


def test_k8s_apply_of_the_directory_never_overwrites_the_real_secret():
    secrets = [filename for filename, doc in k8s_documents() if doc.get("kind") == "Secret"]
    assert not secrets, f"`kubectl apply -f deploy/k8s/` would apply placeholders: {secrets}"


def test_k8s_secret_example_holds_placeholders_for_every_required_secret():
    doc = secret_example()
    assert doc["kind"] == "Secret"
    assert not doc.get("data"), "use stringData placeholders, not base64 data"
    values = doc.get("stringData") or {}
    missing = sorted(set(REQUIRED_SECRETS) - set(values))
    assert not missing, f"secret example lacks {missing}"
    for key, value in values.items():
        assert "CHANGE-ME" in str(value) or "example" in str(value), f"{key} looks real"


def test_k8s_workloads_run_the_right_subcommands():
    expected = {
        ("Deployment", "ordertrack-web"): "serve",
        ("Deployment", "ordertrack-worker"): "worker",
        ("Deployment", "ordertrack-sweeper"): "sweep",
        ("Job", "ordertrack-migrate"): "migrate",
    }
    for (kind, name), subcommand in expected.items():
        argv = ordertrack_argv(k8s_argv(main_container(kind, name)))
        assert argv and argv[1] == subcommand, f"{name} runs {argv}"
    restart = k8s_object("Job", "ordertrack-migrate")["spec"]["template"]["spec"]
    assert restart.get("restartPolicy") in {"Never", "OnFailure"}


def test_k8s_containers_keep_the_image_entrypoint_as_pid_1():
    if not dockerfile_entrypoint():
        pytest.fail("the image has no init ENTRYPOINT (tini) to forward SIGTERM")
    for workload, _, container in k8s_containers():
        assert "command" not in container, (
            f"{workload}: `command` replaces the image's ENTRYPOINT; use `args`"
        )


def test_k8s_replicas_two_web_two_workers_one_sweeper_that_never_overlaps():
    web = k8s_object("Deployment", "ordertrack-web")["spec"]
    worker = k8s_object("Deployment", "ordertrack-worker")["spec"]
    sweeper = k8s_object("Deployment", "ordertrack-sweeper")["spec"]
    assert web["replicas"] == 2
    assert worker["replicas"] >= 2
    assert sweeper["replicas"] == 1
    assert sweeper.get("strategy", {}).get("type") == "Recreate"


def test_k8s_web_is_ready_on_readyz_and_alive_on_healthz():
    container = main_container("Deployment", "ordertrack-web")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert 8000 in ports.values()
    probes = (("readinessProbe", "/readyz?require=database"), ("livenessProbe", "/healthz"))
    for probe, path in probes:
        http = container.get(probe, {}).get("httpGet")
        assert http, f"web has no HTTP {probe}"
        assert http["path"] == path, f"{probe} on {http['path']}"
        port = http["port"]
        assert ports.get(port, port) == 8000, f"{probe} probes port {port}"


def test_k8s_every_container_has_requests_and_limits_with_requests_within_limits():
    for workload, _, container in k8s_containers():
        resources = container.get("resources", {})
        requests = resources.get("requests", {})
        limits = resources.get("limits", {})
        assert "memory" in limits and "memory" in requests and "cpu" in requests, workload
        assert memory_bytes(requests["memory"]) <= memory_bytes(limits["memory"]), workload
        if "cpu" in limits:
            assert cpu_cores(requests["cpu"]) <= cpu_cores(limits["cpu"]), workload


def test_k8s_web_memory_limit_fits_its_gunicorn_workers_at_80_mb_each_plus_master():
    container = main_container("Deployment", "ordertrack-web")
    workers = int(container_env(container).get("WEB_CONCURRENCY") or 2)
    limit = memory_bytes(container["resources"]["limits"]["memory"])
    assert limit >= (workers + 1) * RSS_PER_PROCESS, (
        f"{workers} gunicorn workers need more than {limit / 2**20:.0f} Mi"
    )


def test_k8s_worker_memory_limit_fits_its_dramatiq_processes():
    container = main_container("Deployment", "ordertrack-worker")
    argv = k8s_argv(container)
    assert "--processes" in argv, "set --processes: Dramatiq's default is the node's CPUs"
    processes = int(argv[argv.index("--processes") + 1])
    limit = memory_bytes(container["resources"]["limits"]["memory"])
    assert limit >= (processes + 1) * RSS_PER_PROCESS


def test_k8s_worker_gets_time_to_finish_in_flight_tasks():
    spec = k8s_object("Deployment", "ordertrack-worker")["spec"]["template"]["spec"]
    grace = spec.get("terminationGracePeriodSeconds", 30)
    assert grace >= 60, f"{grace}s: tasks in flight would be killed mid-send"


def test_k8s_pods_run_as_non_root_on_a_read_only_root_with_a_writable_tmp():
    for workload, pod, container in k8s_containers():
        pod_ctx = pod.get("securityContext", {})
        ctx = container.get("securityContext", {})
        assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, workload
        assert ctx.get("readOnlyRootFilesystem") is True, workload
        assert ctx.get("allowPrivilegeEscalation") is False, workload
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        assert tmp, f"{workload}: /tmp must be writable (gunicorn heartbeat, temp files)"
        assert "emptyDir" in volumes[tmp[0]["name"]], workload


def test_k8s_run_as_user_is_the_dockerfile_uid():
    uid = dockerfile_uid()
    for workload, pod, container in k8s_containers():
        run_as = container.get("securityContext", {}).get(
            "runAsUser", pod.get("securityContext", {}).get("runAsUser")
        )
        assert run_as in (None, uid), f"{workload} runs as {run_as}, the image as {uid}"


def test_k8s_all_workloads_run_one_image():
    images = {container["image"] for _, _, container in k8s_containers()}
    assert len(images) == 1, f"migrate and the app must run the same release: {images}"


def test_k8s_every_app_container_gets_database_url_and_redis_url():
    for workload, _, container in k8s_containers():
        env = container_env(container)
        assert {"DATABASE_URL", "REDIS_URL"} <= set(env), workload


def test_k8s_service_and_pdb_select_the_web_pods():
    web = k8s_object("Deployment", "ordertrack-web")["spec"]["template"]
    labels = web["metadata"]["labels"]
    others = [
        k8s_object("Deployment", n)["spec"]["template"]["metadata"]["labels"]
        for n in ("ordertrack-worker", "ordertrack-sweeper")
    ]
    service = k8s_object("Service", "ordertrack-web")["spec"]
    selectors = [service["selector"]]
    selectors += [
        pdb["spec"]["selector"]["matchLabels"]
        for pdb in k8s_objects("PodDisruptionBudget").values()
    ]
    for selector in selectors:
        assert selector.items() <= labels.items(), f"{selector} misses the web pods"
        for other in others:
            assert not selector.items() <= other.items(), f"{selector} also selects {other}"
    port_names = {p.get("name") for p in web["spec"]["containers"][0]["ports"]}
    for port in service["ports"]:
        target = port.get("targetPort", port["port"])
        assert target in port_names or target == 8000, f"Service targets {target}"


def test_deploy_readme_explains_applying_the_directory_and_creating_the_secret():
    text = DEPLOY_README.read_text()
    assert re.search(r"^\s*kubectl apply -f deploy/k8s/?\s*$", text, re.MULTILINE), (
        "deploy/README.md has no command line applying the whole deploy/k8s/ directory"
    )
    name = secret_example()["metadata"]["name"]
    assert f"kubectl create secret generic {name}" in text
    for key in REQUIRED_SECRETS:
        assert key in text, f"deploy/README.md does not say to create {key}"


# ---------------------------------------------------------------------------- README


def deployment_env_names() -> set[str]:
    names: set[str] = set()
    for service in compose()["services"].values():
        names |= set(compose_env(service))
    names |= set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    for _, _, container in k8s_containers():
        names |= set(container_env(container))
    for configmap in k8s_objects("ConfigMap").values():
        names |= set(configmap.get("data") or {})
    names |= secret_keys()
    return names


def test_every_deployed_secret_smtp_database_and_redis_setting_is_in_the_readme_table():
    assert README.exists(), "README.md (with its settings table) is missing"
    table = "\n".join(
        line for line in README.read_text().splitlines() if line.lstrip().startswith("|")
    )
    documented = set(re.findall(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", table))
    used = {name for name in deployment_env_names() if name.startswith(DOCUMENTED_FAMILIES)}
    assert used, "no settings found in the deployment files"
    missing = sorted(used - documented)
    assert not missing, f"README.md's settings table does not mention {missing}"
