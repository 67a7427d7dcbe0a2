"""The scale-out deployment (docker-compose.yml + Dockerfile), checked by reading them.

No Docker engine runs here, so `docker compose config` and `docker build` cannot: these tests
parse both files and check what those commands (and a first `docker compose up`) would trip
on: references between services, health conditions, `${VAR}` interpolation, port clashes when
services scale, unpinned images, and above all that every command our image runs exists in
our CLI, with options it accepts, at a path the image really contains.
"""

from __future__ import annotations

import ast
import fnmatch
import glob
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"

# The environment an operator must provide (everything else has a default).
OPERATOR_ENV = {"HELPDECK_ADMIN_TOKEN": "hd_admin_compose_check"}
APP_ENV_REQUIRED = ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "HELPDECK_ADMIN_TOKEN")
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "temporalio/auto-setup": 7233}


# --------------------------------------------------------------------------------------------
# Compose: loading and interpolation (the rules of the Compose specification)
# --------------------------------------------------------------------------------------------

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>))"
)
_BRACED = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.S
)


class MissingVariable(Exception):
    pass


def _interpolate_str(text: str, env: dict[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        if match.group("braced") is None:
            raise ValueError(f"stray '$' in {text!r} (write $$ for a literal dollar)")
        parsed = _BRACED.match(match.group("braced"))
        if parsed is None:
            raise ValueError(f"cannot parse ${{{match.group('braced')}}} in {text!r}")
        name, op, arg = parsed.group("name", "op", "arg")
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return _interpolate_str(arg, env)
        if op in (":+", "+"):
            present = value is not None and (op == "+" or value != "")
            return _interpolate_str(arg, env) if present else ""
        return value or ""

    return _VAR.sub(repl, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate_str(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    return []


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "docker-compose.yml is not a YAML mapping"
    return document


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The file as compose sees it once the operator has set only what is required."""
    return interpolate(raw, OPERATOR_ENV)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


# --------------------------------------------------------------------------------------------
# Dockerfile: a small reader that tracks which repository files land where in each stage
# --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    workdir: str = "/"
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    files: dict[str, Path] = field(default_factory=dict)  # image path -> repository file
    venvs: list[str] = field(default_factory=list)
    installs: list[dict[str, Any]] = field(default_factory=list)
    copies_from: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, src, dest)


def _instructions(text: str) -> list[tuple[str, str]]:
    lines, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by the parser
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    out = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _exec_form(rest: str) -> list[str]:
    import json

    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), rest
    return value


def _join(base: str, path: str) -> str:
    return str(PurePosixPath(base) / path) if not path.startswith("/") else str(PurePosixPath(path))


def _repo_files(path: Path) -> dict[str, Path]:
    """Files under a repository directory, keyed by their path relative to it."""
    if path.is_file():
        return {"": path}
    return {
        str(p.relative_to(path)): p
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def read_dockerfile() -> list[Stage]:
    stages: list[Stage] = []
    for keyword, rest in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
            continue
        assert stages, f"{keyword} before FROM"
        stage = stages[-1]
        if keyword == "WORKDIR":
            stage.workdir = _join(stage.workdir, rest)
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                stage.env[key] = value.replace("$PATH", stage.env.get("PATH", "$PATH"))
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = _exec_form(rest)
            stage.cmd = None  # an ENTRYPOINT resets an inherited CMD
        elif keyword == "CMD":
            stage.cmd = _exec_form(rest)
        elif keyword == "RUN":
            for venv in re.findall(r"python3? -m venv (\S+)", rest):
                stage.venvs.append(venv)
            if re.search(r"\bpip3? install\b(?:\s+-\S+)*\s+\.(?:\[[^\]]*\])?(?:\s|$)", rest):
                stage.installs.append({"workdir": stage.workdir, "files": dict(stage.files)})
        elif keyword in ("COPY", "ADD"):
            tokens = shlex.split(rest)
            flags = [t for t in tokens if t.startswith("--")]
            args = [t for t in tokens if not t.startswith("--")]
            *sources, dest = args
            dest_abs = _join(stage.workdir, dest)
            source_stage = next(
                (f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None
            )
            if source_stage is not None:
                stage.copies_from.append((source_stage, sources[0], dest_abs))
                origin = next(s for s in stages if s.name == source_stage)
                for src in sources:
                    src_abs = _join(origin.workdir, src)
                    for image_path, repo_path in origin.files.items():
                        if image_path == src_abs or image_path.startswith(
                            src_abs.rstrip("/") + "/"
                        ):
                            stage.files[dest_abs + image_path[len(src_abs.rstrip("/")) :]] = (
                                repo_path
                            )
                continue
            into_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
            for src in sources:
                for match in sorted(glob.glob(str(ROOT / src))):
                    match_path = Path(match)
                    if match_path.is_dir():
                        target = dest_abs if not into_dir else _join(dest_abs, match_path.name)
                        if src in (".", "./"):
                            target = dest_abs
                        for rel, repo_path in _repo_files(match_path).items():
                            stage.files[_join(target, rel)] = repo_path
                    else:
                        target = _join(dest_abs, match_path.name) if into_dir else dest_abs
                        stage.files[target] = match_path
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_dockerfile()


@pytest.fixture(scope="module")
def image(stages: list[Stage]) -> Stage:
    return stages[-1]


def effective_argv(service: dict[str, Any], image: Stage) -> list[str]:
    """What the container runs, by Docker's rules: an entrypoint override drops the image CMD."""
    entrypoint = argv(service.get("entrypoint"))
    command = argv(service.get("command"))
    if entrypoint is not None:
        return entrypoint + (command or [])
    return (image.entrypoint or []) + (command if command is not None else image.cmd or [])


def builds_our_image(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    return (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE.resolve()


@pytest.fixture(scope="module")
def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ours = {name: svc for name, svc in services.items() if builds_our_image(svc)}
    assert {"migrate", "api", "worker", "dashboard"} <= set(ours), sorted(ours)
    return ours


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# The file, its services and their references
# --------------------------------------------------------------------------------------------


def test_compose_file_parses_and_has_the_scale_out_services(raw: dict[str, Any]) -> None:
    expected = {
        "postgresql",
        "temporal",
        "temporal-ui",
        "redis",
        "opensearch",
        "migrate",
        "api",
        "worker",
        "dashboard",
    }
    assert expected <= set(raw["services"]), sorted(expected - set(raw["services"]))
    for name, service in raw["services"].items():
        assert isinstance(service, dict), name
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
    # Only extension fields (x-…) and the keys of the Compose specification at the top.
    allowed = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
    unknown = {k for k in raw if not k.startswith("x-")} - allowed
    assert not unknown, unknown


def test_every_depends_on_names_a_service_with_a_valid_condition(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert target != name, f"{name} depends on itself"
            assert condition in DEPENDS_CONDITIONS, f"{name} -> {target}: {condition!r}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )
                assert not services[target]["healthcheck"].get("disable"), target
            if condition == "service_completed_successfully":
                restart = str(services[target].get("restart", "no"))
                assert restart in ("no", "on-failure") or restart.startswith("on-failure:"), (
                    f"{name} waits for {target} to exit, but {target} restarts ({restart})"
                )


def test_dependencies_have_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for target in depends_on(services[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in services:
        visit(name, ())


def test_app_services_start_after_migration_and_healthy_backends(
    services: dict[str, dict[str, Any]],
) -> None:
    assert str(services["migrate"].get("restart", "no")) == "no", "migrate is one-shot"
    assert depends_on(services["migrate"]).get("postgresql") == "service_healthy"
    for name in ("api", "worker"):
        deps = depends_on(services[name])
        assert deps.get("migrate") == "service_completed_successfully", (name, deps)
        assert deps.get("temporal") == "service_healthy", (name, deps)
        assert deps.get("redis") == "service_healthy", (name, deps)
    assert depends_on(services["dashboard"]).get("migrate") == "service_completed_successfully"
    assert depends_on(services["temporal"]).get("postgresql") == "service_healthy"
    assert depends_on(services["temporal-ui"]).get("temporal") in (
        "service_started",
        "service_healthy",
    )


def test_named_volumes_are_declared_and_stateful_services_keep_data(
    compose: dict[str, Any],
    services: dict[str, dict[str, Any]],
) -> None:
    declared = set(compose.get("volumes") or {})
    mounts: dict[str, list[str]] = {}
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source, target = (
                (volume.get("source"), volume.get("target"))
                if isinstance(volume, dict)
                else (volume.split(":")[0], volume.split(":")[1] if ":" in volume else volume)
            )
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source!r}"
            mounts.setdefault(name, []).append(str(target))
    assert "/var/lib/postgresql/data" in mounts.get("postgresql", [])
    assert "/usr/share/opensearch/data" in mounts.get("opensearch", [])


# --------------------------------------------------------------------------------------------
# Interpolation and environment
# --------------------------------------------------------------------------------------------


def test_every_variable_has_a_default_or_a_required_message(raw: dict[str, Any]) -> None:
    for text in _strings(raw):
        for match in _VAR.finditer(text):
            if match.group("escaped"):
                continue
            assert match.group("named") is None, f"${match.group('named')} has no default: {text!r}"
            assert match.group("other") is None, f"stray '$' in {text!r}"
            parsed = _BRACED.match(match.group("braced"))
            assert parsed and parsed.group("op") in (":-", "-", ":?", "?"), (
                f"${{{match.group('braced')}}} has neither a default nor a required-message"
            )
            if parsed.group("op") in (":?", "?"):
                assert parsed.group("arg").strip(), f"${{{match.group('braced')}}}: empty message"


def test_the_admin_token_is_required_and_nothing_else(raw: dict[str, Any]) -> None:
    with pytest.raises(MissingVariable, match="HELPDECK_ADMIN_TOKEN"):
        interpolate(raw, {})
    interpolate(raw, OPERATOR_ENV)  # enough on its own
    with pytest.raises(MissingVariable, match="HELPDECK_ADMIN_TOKEN"):
        interpolate(raw, {"HELPDECK_ADMIN_TOKEN": ""})  # `:?` also refuses an empty token


def test_app_services_share_the_helpdeck_environment(
    raw: dict[str, Any],
    app_services: dict[str, dict[str, Any]],
) -> None:
    shared = raw.get("x-helpdeck-env")
    assert isinstance(shared, dict), "x-helpdeck-env anchor missing"
    assert re.search(r"^x-helpdeck-env:\s*&\S+", COMPOSE_FILE.read_text(), re.M), "not an anchor"
    for name, service in app_services.items():
        env = environment(service)
        for key in APP_ENV_REQUIRED:
            assert env.get(key), f"{name} lacks {key}"
        assert env["HELPDECK_ADMIN_TOKEN"] == OPERATOR_ENV["HELPDECK_ADMIN_TOKEN"], name
        # OpenAI settings pass through from the operator's environment, empty by default.
        assert env.get("OPENAI_API_KEY") == "" and env.get("OPENAI_BASE_URL") == "", name


def test_app_environment_points_at_the_compose_services_and_validates(
    app_services: dict[str, dict[str, Any]],
    services: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helpdeck.settings import Settings

    def image_of(name: str) -> str:
        return services[name]["image"].split(":")[0]

    env = environment(app_services["api"])
    for key, service_name in (
        ("DATABASE_URL", "postgresql"),
        ("REDIS_URL", "redis"),
        ("TEMPORAL_ADDRESS", "temporal"),
    ):
        value = env[key] if "://" in env[key] else f"tcp://{env[key]}"
        url = urlsplit(value)
        assert url.hostname == service_name, (key, env[key])
        assert url.port == DEFAULT_PORTS[image_of(service_name)], (key, env[key])

    db = urlsplit(env["DATABASE_URL"])
    pg_env = environment(services["postgresql"])
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    ), "DATABASE_URL does not match the postgresql service's user, password and database"

    for key in list(os.environ):
        if key.startswith("HELPDECK_") or key in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("postgresql+psycopg://helpdeck:")
    assert settings.redis_url == env["REDIS_URL"]
    assert settings.temporal_address == "temporal:7233"
    assert settings.admin_token == OPERATOR_ENV["HELPDECK_ADMIN_TOKEN"]

    # The namespace the app uses is the one auto-setup registers (and the healthcheck awaits).
    temporal = services["temporal"]
    temporal_env = environment(temporal)
    assert temporal_env.get("DEFAULT_NAMESPACE", "default") == settings.temporal_namespace
    assert f"--namespace {settings.temporal_namespace}" in " ".join(
        _strings(temporal["healthcheck"]["test"])
    )


def test_temporal_runs_on_the_postgresql_service(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    env = environment(temporal)
    assert temporal["image"].startswith("temporalio/auto-setup:")
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert str(env.get("DB_PORT")) == "5432", "auto-setup's DB_PORT defaults to MySQL's 3306"
    pg = environment(services["postgresql"])
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
    )
    # Its databases must not be the app's: auto-setup would put Temporal's schema in it.
    assert env.get("DBNAME", "temporal") != pg["POSTGRES_DB"]
    assert env.get("VISIBILITY_DBNAME", "temporal_visibility") != pg["POSTGRES_DB"]
    assert environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_opensearch_is_single_node_without_security_on_the_local_network(
    services: dict[str, dict[str, Any]],
) -> None:
    opensearch = services["opensearch"]
    image, _, tag = opensearch["image"].partition(":")
    assert image == "opensearchproject/opensearch" and tag.startswith("2."), opensearch["image"]
    env = environment(opensearch)
    assert env.get("discovery.type") == "single-node"
    assert (
        env.get("DISABLE_SECURITY_PLUGIN") == "true"
        or env.get("plugins.security.disabled") == "true"
    )
    assert not opensearch.get("ports"), "an unsecured OpenSearch must not be published"


# --------------------------------------------------------------------------------------------
# Commands: what our image runs exists
# --------------------------------------------------------------------------------------------


def _check_helpdeck_args(args: list[str]) -> None:
    """The subcommand exists and accepts exactly these arguments (click parses, nothing runs)."""
    import typer
    from typer.main import get_command
    from typer.testing import CliRunner

    from helpdeck.cli import app

    # Typer may carry its own copy of click: take UsageError from the class hierarchy.
    usage_error: type[Exception] = next(
        c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
    )
    group: Any = get_command(app)
    assert hasattr(group, "get_command"), "helpdeck's CLI has no subcommands"
    assert args, "helpdeck with no subcommand only prints help"
    sub, rest = args[0], args[1:]
    with group.make_context("helpdeck", [sub], resilient_parsing=True) as ctx:
        command = group.get_command(ctx, sub)
    assert command is not None, f"`helpdeck {sub}` does not exist (have {sorted(group.commands)})"
    try:
        command.make_context(sub, list(rest))
    except usage_error as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        raise AssertionError(f"`helpdeck {' '.join(args)}`: {message}") from None
    result = CliRunner().invoke(app, [sub, "--help"])
    assert result.exit_code == 0, result.output


def test_the_entrypoint_is_our_console_script(image: Stage) -> None:
    scripts = pyproject()["project"]["scripts"]
    assert image.entrypoint == ["helpdeck"], image.entrypoint
    assert scripts.get("helpdeck") == "helpdeck.cli:main"
    if image.cmd:
        _check_helpdeck_args(image.cmd)


@pytest.mark.parametrize("name", ["migrate", "api", "worker", "dashboard"])
def test_app_service_commands_exist(
    name: str,
    app_services: dict[str, dict[str, Any]],
    image: Stage,
) -> None:
    service = app_services[name]
    assert "working_dir" not in service or service["working_dir"] == image.workdir
    args = effective_argv(service, image)
    assert args, f"{name} runs nothing"
    program = args[0]
    if program == "helpdeck":
        _check_helpdeck_args(args[1:])
        if name == "api":
            assert args[1:] == ["api", "--host", "0.0.0.0", "--port", "8000"], args
        if name == "migrate":
            assert args[1:] == ["migrate"], args
    elif program in ("python", "python3", "python3.11"):
        script = args[1]
        assert not script.startswith("-"), args
        image_path = _join(image.workdir, script)
        assert image_path in image.files, f"{image_path} is not in the image"
        tree = ast.parse(image.files[image_path].read_text(encoding="utf-8"))
        functions = {
            n.name for n in tree.body if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)
        }
        assert "run_worker" in functions, f"{script} defines no run_worker"
        main_blocks = [
            n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)
        ]
        assert main_blocks and "run_worker" in ast.unparse(main_blocks[0]), (
            f"`python {script}` would not run the worker: no __main__ block calling run_worker"
        )
    elif program == "streamlit":
        assert args[1] == "run", args
        script = args[2]
        assert script == "dashboard/app.py", args
        assert ["--server.port", "8501"] == args[args.index("--server.port") :][:2]
        assert ["--server.address", "0.0.0.0"] == args[args.index("--server.address") :][:2]
        if not (ROOT / script).exists():
            pytest.skip("dashboard/app.py is written by the dashboard issue; service kept for it")
        assert _join(image.workdir, script) in image.files, f"{script} is not copied into the image"
        deps = " ".join(pyproject()["project"]["dependencies"])
        assert re.search(r"\bstreamlit\b", deps), "the image installs no streamlit"
    else:
        raise AssertionError(f"{name} runs {program!r}, which the image does not provide")


def test_worker_runs_python_worker_py_with_replicas(
    app_services: dict[str, dict[str, Any]],
    image: Stage,
) -> None:
    worker = app_services["worker"]
    assert effective_argv(worker, image) == ["python", "worker.py"]
    assert replicas(worker) == 2


# --------------------------------------------------------------------------------------------
# Scaling, ports and images
# --------------------------------------------------------------------------------------------


def _published(port: Any) -> tuple[str, list[int], str] | None:
    """(host ip, host ports, protocol) a port entry binds, or None if nothing is published."""
    if isinstance(port, dict):
        published = port.get("published")
        if published is None:
            return None
        text, ip, proto = (
            str(published),
            port.get("host_ip", "0.0.0.0"),
            port.get("protocol", "tcp"),
        )
    else:
        spec, _, proto = str(port).partition("/")
        proto = proto or "tcp"
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            return None  # container port only: docker picks an ephemeral host port
        ip, text = ("0.0.0.0", parts[0]) if len(parts) == 2 else (parts[0] or "0.0.0.0", parts[1])
        if text == "":
            return None
    low, _, high = text.partition("-")
    return ip, list(range(int(low), int(high or low) + 1)), proto


def test_published_ports_do_not_collide_even_when_scaled(
    services: dict[str, dict[str, Any]],
) -> None:
    taken: dict[tuple[str, int, str], str] = {}
    for name, service in services.items():
        for port in service.get("ports") or []:
            binding = _published(port)
            if binding is None:
                continue
            ip, host_ports, proto = binding
            assert len(host_ports) >= replicas(service), (
                f"{name} runs {replicas(service)} replicas but publishes {port!r}"
            )
            for host_port in host_ports:
                for other_ip in {ip, "0.0.0.0"} if ip != "0.0.0.0" else {"0.0.0.0", "127.0.0.1"}:
                    key = (other_ip, host_port, proto)
                    assert key not in taken, f"{name} and {taken[key]} both publish {key}"
                taken[(ip, host_port, proto)] = name


def test_scalable_services_can_scale(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        service = services[name]
        assert "container_name" not in service, f"{name} cannot scale with a container_name"
        for port in service.get("ports") or []:
            binding = _published(port)
            assert binding is None or len(binding[1]) > 1, (
                f"{name} publishes the single host port {port!r}: a second replica cannot start"
            )
    api_binding = _published((services["api"].get("ports") or [None])[0])
    assert api_binding is not None, "api publishes no port"
    assert 8000 in api_binding[1], api_binding


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if builds_our_image(service):
            continue
        image = service["image"]
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
    assert services["postgresql"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


# --------------------------------------------------------------------------------------------
# The Dockerfile
# --------------------------------------------------------------------------------------------


def test_dockerfile_is_python_311_and_runs_as_a_user(stages: list[Stage], image: Stage) -> None:
    for stage in stages:
        assert re.fullmatch(r"python:3\.11(?:[.-][\w.-]*)?", stage.base), stage.base
    assert "slim" in image.base, image.base
    assert image.user and image.user.split(":")[0] not in ("root", "0"), image.user


def test_dockerfile_installs_the_project_with_all_its_packages(
    stages: list[Stage],
    image: Stage,
) -> None:
    project = pyproject()
    installing = [(stage, install) for stage in stages for install in stage.installs]
    assert installing, "no `pip install .` in the Dockerfile"
    stage, install = installing[-1]
    workdir, files = install["workdir"], install["files"]
    assert _join(workdir, "pyproject.toml") in files, "pyproject.toml not copied before pip install"
    readme = project["project"].get("readme")
    if isinstance(readme, str) and (ROOT / readme).exists():
        assert _join(workdir, readme) in files, f"{readme} (pyproject readme) not copied"
    # Every package setuptools would find, and every py-module, is in the build context.
    setuptools = project["tool"]["setuptools"]
    patterns = setuptools["packages"]["find"]["include"]
    packages = [
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    ]
    assert packages, patterns
    for package in packages:
        assert _join(workdir, f"{package}/__init__.py") in files, f"package {package} not copied"
    for module in setuptools.get("py-modules", []):
        assert _join(workdir, f"{module}.py") in files, f"module {module}.py not copied"

    if stage is not image:
        # Installed in a build stage: the runtime stage must take that environment along.
        assert stage.venvs, "pip install in a build stage without a virtualenv to carry over"
        venv = stage.venvs[-1]
        assert any(src == venv and from_ == stage.name for from_, src, _ in image.copies_from), (
            f"the runtime stage does not copy {venv} from {stage.name}"
        )
        assert f"{venv}/bin" in image.env.get("PATH", "").split(":"), image.env.get("PATH")


def test_the_image_holds_the_scripts_services_run_by_path(image: Stage) -> None:
    assert _join(image.workdir, "worker.py") in image.files
    assert _join(image.workdir, "dashboard/__init__.py") in image.files
