"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is interpolated the way `docker compose` does it, validated against the Compose
Specification JSON schema (tests/data/compose-spec.json, see tests/data/README.md), and compared
with the code: the environment variables the settings read, the Celery app and queues, the WSGI
entry point and the Dockerfile's command. Nothing here needs a database.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

import dashboard.env

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec.json"

APP_SERVICES = ("migrate", "web", "worker", "beat")
# What a first `docker compose up` needs in .env: the only variable without a default.
TRY_ENV = {"SECRET_KEY": "compose-test-key-" + "x" * 40}
# Packages whose modules may read settings from the environment through dashboard.env.
SOURCE_PACKAGES = ("dashboard", "ingest", "reports")
# Every reader dashboard.env defines (a new one is seen without editing this list).
READERS = {name for name in vars(dashboard.env) if name.startswith("env_")}
# Dockerfile variables for the Python runtime and pip, not for the settings.
RUNTIME_ENV = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONPATH",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


# --- Compose variable interpolation ---------------------------------------------------------------

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


class MissingVariable(Exception):
    pass


def _interpolate_text(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None or "${" in (braced["arg"] or ""):
            raise ValueError(f"unsupported reference ${{{match['braced']}}} in {text!r}")
        name, op, arg = braced["name"], braced["op"], braced["arg"] or ""
        value = env.get(name)
        unset = value is None
        empty = unset or value == ""
        if op is None:
            return value or ""
        if op in (":-", "-"):
            return arg if (empty if op == ":-" else unset) else value
        if op in (":?", "?"):
            if empty if op == ":?" else unset:
                raise MissingVariable(f"{name}: {arg}")
            return value
        return arg if not (empty if op == ":+" else unset) else ""

    return _REFERENCE.sub(replace, text)


def interpolate(node: object, env: dict[str, str]) -> object:
    """Substitute ${...} in every string value, as docker compose does before validating."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, str):
        return _interpolate_text(node, env)
    return node


# --- Loading --------------------------------------------------------------------------------------


def load_raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def raw() -> dict:
    return load_raw()


@pytest.fixture(scope="module")
def compose(raw: dict) -> dict:
    return interpolate(raw, TRY_ENV)


def _go_duration(value: object) -> bool:
    return not isinstance(value, str) or bool(
        re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", value)
    )


def _port_spec(value: object) -> bool:
    # [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTOCOL], as docker compose parses it.
    return not isinstance(value, str) or bool(
        re.fullmatch(
            r"((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(/(tcp|udp|sctp))?", value
        )
    )


def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    # The schema names draft 2019-09 by an http:// URI that jsonschema does not look up.
    assert "2019-09" in schema["$schema"]
    jsonschema.Draft201909Validator.check_schema(schema)
    formats = jsonschema.FormatChecker(formats=())
    formats.checks("duration")(_go_duration)
    formats.checks("ports")(_port_spec)
    return jsonschema.Draft201909Validator(schema, format_checker=formats)


def schema_errors(document: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in schema_validator().iter_errors(document)
    ]


# --- Reading the code -----------------------------------------------------------------------------


class Reader:
    def __init__(self, function: str, default: ast.expr | None, where: str) -> None:
        self.function, self.default, self.where = function, default, where


def settings_variables() -> dict[str, Reader]:
    """Every variable name passed to a dashboard.env reader anywhere in the project's packages."""
    found: dict[str, Reader] = {}
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path == REPO / "dashboard" / "env.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name not in READERS:
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{where}: {name}() needs a literal variable name for this check"
                )
                default = node.args[1] if len(node.args) > 1 else None
                found.setdefault(first.value, Reader(name, default, where))
    return found


def accepted_names(readers: dict[str, Reader]) -> set[str]:
    names = set(readers)
    # env_secret also reads NAME_FILE, the path of a mounted secret.
    names |= {f"{name}_FILE" for name, reader in readers.items() if reader.function == "env_secret"}
    return names


def module_constant(path: Path, target: str) -> object:
    """The literal value assigned to NAME, or to an attribute chain such as app.conf.task_routes."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(ast.unparse(t) == target for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.relative_to(REPO)} assigns no literal to {target}")


def declared_queues() -> set[str]:
    routes = module_constant(REPO / "dashboard" / "celery.py", "app.conf.task_routes")
    default = module_constant(REPO / "dashboard" / "settings.py", "CELERY_TASK_DEFAULT_QUEUE")
    return {route["queue"] for route in routes.values()} | {default}


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, sep, value = pair.partition("=")
                assert sep, f"ENV {pair!r}: use the NAME=value form"
                env[name] = value
    return env


def dockerfile_cmd() -> list[str]:
    commands = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
    assert len(commands) == 1, "the Dockerfile should have exactly one CMD"
    return json.loads(commands[0])  # exec form: no shell between docker and the process


def app_environment(compose: dict) -> dict[str, str]:
    return compose["x-app"]["environment"]


def option(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


# --- The schema -----------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification(compose: dict) -> None:
    assert schema_errors(compose) == []


@pytest.mark.parametrize(
    "breakage",
    [
        "unknown service key",
        "misspelled depends_on condition",
        "healthcheck interval that is not a duration",
        "environment value that is a list",
        "malformed port",
        "unknown top-level key",
    ],
)
def test_schema_rejects_a_broken_copy(compose: dict, breakage: str) -> None:
    broken = copy.deepcopy(compose)
    web = broken["services"]["web"]
    if breakage == "unknown service key":
        web["restart_policy"] = "always"
    elif breakage == "misspelled depends_on condition":
        web["depends_on"]["postgres"]["condition"] = "service_healty"
    elif breakage == "healthcheck interval that is not a duration":
        web["healthcheck"]["interval"] = "30 seconds"
    elif breakage == "environment value that is a list":
        web["environment"]["DEBUG"] = ["false"]
    elif breakage == "malformed port":
        web["ports"] = ["127.0.0.1:eight-thousand:8000"]
    else:
        broken["service"] = {}
    assert schema_errors(broken), f"a copy with an {breakage} was accepted"


def test_yaml_gives_every_value_its_intended_type(raw: dict) -> None:
    # YAML 1.1 reads bare no/false/on as booleans; docker compose wants strings here.
    for name in APP_SERVICES:
        service = raw["services"][name]
        assert all(isinstance(v, str) for v in service["environment"].values()), name
        assert service["restart"] in {"no", "unless-stopped"}, name


def test_compose_refuses_to_start_without_a_secret_key(raw: dict) -> None:
    with pytest.raises(MissingVariable, match="SECRET_KEY"):
        interpolate(raw, {})


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "value", "EMPTY": ""}
    assert _interpolate_text("${SET:-d} ${EMPTY:-d} ${UNSET:-d} ${EMPTY-d}", env) == "value d d "
    assert _interpolate_text("$$SET ${SET:+alt} ${EMPTY:+alt} $SET", env) == "$SET alt  value"
    with pytest.raises(MissingVariable):
        _interpolate_text("${EMPTY:?needed}", env)


# --- The settings ---------------------------------------------------------------------------------


def test_app_services_share_one_definition(compose: dict) -> None:
    shared = compose["x-app"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        for key in ("image", "build", "environment"):
            assert service[key] == shared[key], f"{name}.{key} differs from x-app"
    others = set(compose["services"]) - set(APP_SERVICES)
    assert others == {"postgres", "redis"}
    for name in others:
        assert not set(compose["services"][name].get("environment", {})) & set(
            shared["environment"]
        ), f"{name} has app settings in its environment"


def test_every_variable_set_is_read_by_the_settings(compose: dict) -> None:
    accepted = accepted_names(settings_variables())
    unknown = set(app_environment(compose)) - accepted
    assert not unknown, f"docker-compose.yml sets variables no setting reads: {sorted(unknown)}"
    image_only = set(dockerfile_env()) - RUNTIME_ENV - accepted
    assert not image_only, f"the Dockerfile sets variables no setting reads: {sorted(image_only)}"


def test_every_setting_can_be_set_from_compose(compose: dict) -> None:
    readers = settings_variables()
    provided = set(app_environment(compose)) | set(dockerfile_env())
    missing = {name: readers[name].where for name in set(readers) - provided}
    assert not missing, (
        "settings read variables docker-compose.yml does not pass on (add them to x-app "
        f"environment, or to the Dockerfile if they describe the image): {missing}"
    )


def test_empty_values_mean_the_settings_default(compose: dict) -> None:
    readers = settings_variables()
    for name, value in app_environment(compose).items():
        if value != "":
            continue
        reader = readers[name]
        if reader.function in {"env_int", "env_bool", "env_networks", "env_choice", "env_url"}:
            continue  # these treat an empty value as unset
        default = ast.literal_eval(reader.default) if reader.default is not None else ""
        assert default in ("", []), (
            f"{name} is passed empty, but {reader.function}() at {reader.where} would read the"
            f" empty string instead of its default {default!r}"
        )


def test_settings_accept_the_compose_environment(compose: dict, tmp_path: Path) -> None:
    """The settings load, pass `manage.py check` and answer the web healthcheck, DEBUG off."""
    image_env = dockerfile_env()
    healthcheck = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    url = urlsplit(re.search(r"http://[^'\"\s]+", healthcheck)[0])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        **{k: v for k, v in image_env.items() if k not in RUNTIME_ENV},
        **app_environment(compose),
        # The image's own paths, moved under tmp_path: this machine has no /app.
        "SUITEHEALTH_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "staticfiles"),
    }
    script = f"""
import django
from django.conf import settings
from django.core.management import call_command
django.setup()
assert settings.DEBUG is False, settings.DEBUG
assert settings.DATABASES["default"]["HOST"] == "postgres", settings.DATABASES["default"]
assert not settings.CELERY_TASK_ALWAYS_EAGER, "REDIS_URL did not switch to real workers"
call_command("check", fail_level="ERROR")
from django.test import Client
response = Client().get({url.path!r}, HTTP_HOST={url.netloc!r})
assert response.status_code == 200, (response.status_code, response.content[:500])
print("compose environment ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compose environment ok" in result.stdout


# --- Services and their wiring --------------------------------------------------------------------


def test_urls_point_at_the_compose_services(compose: dict) -> None:
    services = compose["services"]
    database = urlsplit(app_environment(compose)["DATABASE_URL"])
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert database.scheme in {"postgres", "postgresql"}
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert database.username == postgres["environment"]["POSTGRES_USER"]
    assert database.password == postgres["environment"]["POSTGRES_PASSWORD"]
    assert database.path == "/" + postgres["environment"]["POSTGRES_DB"]

    broker = urlsplit(app_environment(compose)["REDIS_URL"])
    assert broker.scheme == "redis"
    assert (broker.hostname, broker.port or 6379) == ("redis", 6379)
    redis = services["redis"]
    assert redis["image"] == "redis:7"
    assert option(redis["command"], "--appendonly") == "yes"


def test_worker_consumes_every_queue_the_code_routes_to(compose: dict) -> None:
    command = compose["services"]["worker"]["command"]
    assert command[:4] == ["celery", "-A", "dashboard", "worker"]
    queues = option(command, "-Q").split(",")
    assert len(queues) == len(set(queues))
    assert set(queues) == declared_queues()


def test_celery_commands_name_the_project_app(compose: dict) -> None:
    # `celery -A dashboard` finds the app as dashboard.celery.app.
    celery_module = ast.parse((REPO / "dashboard" / "celery.py").read_text())
    assert any(
        isinstance(node, ast.Assign)
        and [ast.unparse(t) for t in node.targets] == ["app"]
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "Celery"
        for node in celery_module.body
    ), "dashboard/celery.py defines no `app = Celery(...)`"
    for name in ("worker", "beat"):
        command = compose["services"][name]["command"]
        assert command[:3] == ["celery", "-A", "dashboard"], name
        assert option(command, "--loglevel") == "INFO"


def test_beat_keeps_its_schedule_in_a_volume(compose: dict) -> None:
    beat = compose["services"]["beat"]
    schedule = Path(option(beat["command"], "--schedule"))
    mounts = {
        Path(target): source for source, target in (v.split(":")[:2] for v in beat["volumes"])
    }
    assert schedule.parent in mounts, f"{schedule} is not inside a volume"
    assert mounts[schedule.parent] in compose["volumes"]
    # The mount point exists in the image, owned by the app user, so the new volume is writable.
    assert str(schedule.parent) in DOCKERFILE.read_text()


def test_data_lives_in_named_volumes(compose: dict) -> None:
    services = compose["services"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], volume


def test_startup_order_waits_for_health_and_migrations(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if dependency == "migrate":
                assert condition == "service_completed_successfully", name
            else:
                assert condition == "service_healthy", f"{name} -> {dependency}"
                assert "healthcheck" in services[dependency], dependency
    for name in ("web", "worker", "beat"):
        assert "migrate" in services[name]["depends_on"], name
        assert "redis" in services[name]["depends_on"], name
    assert "postgres" in services["migrate"]["depends_on"]
    assert services["migrate"]["restart"] == "no", "a one-shot job must not be restarted"
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_healthchecks(compose: dict) -> None:
    services = compose["services"]
    web = " ".join(services["web"]["healthcheck"]["test"])
    assert "urllib.request.urlopen" in web  # the slim image has no curl
    assert "http://localhost:8000/" in web
    assert "localhost" in app_environment(compose)["ALLOWED_HOSTS"].split(",")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])


# --- The Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_cmd_is_the_web_command(compose: dict) -> None:
    command = compose["services"]["web"]["command"]
    assert dockerfile_cmd() == command
    assert not any(keyword == "ENTRYPOINT" for keyword, _ in dockerfile_instructions())
    assert command[:2] == ["gunicorn", "dashboard.wsgi:application"]
    wsgi = module_constant(REPO / "dashboard" / "settings.py", "WSGI_APPLICATION")
    assert wsgi == command[1].replace(":", ".")
    assert option(command, "--bind") == "0.0.0.0:8000"


def test_dockerfile_builds_a_non_root_image_serving_port_8000(compose: dict) -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "pip install ." in runs
    assert "collectstatic --noinput" in runs
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert ("EXPOSE", "8000") in instructions
    assert compose["services"]["web"]["ports"][0].rsplit(":", 1)[1] == "8000"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", "var"} <= ignored


def test_vendored_schema_is_the_file_its_readme_describes() -> None:
    digest = hashlib.sha256(SCHEMA.read_bytes()).hexdigest()
    assert digest in (SCHEMA.parent / "README.md").read_text(), "update tests/data/README.md"


def test_email_host_settings_can_be_used_instead_of_the_console_default(raw: dict) -> None:
    """Unset EMAIL_URL writes emails to the log; EMAIL_URL= (empty) lets the EMAIL_HOST…
    variables be read, as the file's comment says."""
    default = app_environment(interpolate(raw, TRY_ENV))
    assert default["EMAIL_URL"] == "console:"
    chosen = app_environment(
        interpolate(raw, {**TRY_ENV, "EMAIL_URL": "", "EMAIL_HOST": "smtp.example.com"})
    )
    assert (chosen["EMAIL_URL"], chosen["EMAIL_HOST"]) == ("", "smtp.example.com")


def test_the_image_keeps_what_manage_py_demo_imports() -> None:
    """The demo command makes its history with the CI simulator under tests/: the build context
    keeps that package (and the package above it), and leaves the test files out."""
    import fnmatch

    rules = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip

    def ignored(path: str) -> bool:  # Docker's rule: the last matching line decides
        verdict = False
        for rule in rules:
            negate, pattern = rule.startswith("!"), rule.lstrip("!")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/"):
                verdict = not negate
        return verdict

    needed = ["tests/__init__.py"] + [
        str(p.relative_to(REPO)) for p in (REPO / "tests" / "simulation").glob("*.py")
        if not p.name.startswith("test_")
    ]  # fmt: skip
    assert [p for p in needed if ignored(p)] == []
    assert ignored("tests/conftest.py") and ignored("tests/simulation/test_simulator.py")
