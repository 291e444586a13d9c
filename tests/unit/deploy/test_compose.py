"""The docker compose file describes the distributed deployment and is valid."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "deploy" / "docker-compose.yml"


def test_compose_has_every_service_with_the_right_commands():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"web", "worker-cpu", "worker-gpu", "beat", "postgres", "redis"} <= set(services)
    assert "-Q cpu" in services["worker-cpu"]["command"] and "-Q gpu" in services["worker-gpu"]["command"]
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert "beat" in services["beat"]["command"]
    env = (REPO / "deploy" / "concord.env.example").read_text()
    for var in ("DATABASE_URL=postgres://", "REDIS_URL=redis://", "STORE_URL=s3://", "DASK_SCHEDULER_ADDRESS="):
        assert var in env


def _compose_command() -> list[str] | None:
    """``docker-compose`` or ``docker compose``, whichever answers ``version``; None if neither."""
    for cmd in (["docker-compose"], ["docker", "compose"]):
        if shutil.which(cmd[0]):
            probe = subprocess.run([*cmd, "version"], capture_output=True, text=True)
            if probe.returncode == 0:
                return cmd
    return None


COMPOSE_CMD = _compose_command()


@pytest.mark.skipif(COMPOSE_CMD is None, reason="no docker compose on this machine (neither docker-compose nor the "
                                                "docker compose plugin); the YAML is still checked above")
def test_docker_compose_config_validates(tmp_path):
    env_file = REPO / "deploy" / "concord.env"
    created = not env_file.exists()
    if created:
        env_file.write_text((REPO / "deploy" / "concord.env.example").read_text())
    try:
        out = subprocess.run([*COMPOSE_CMD, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    finally:
        if created:
            env_file.unlink()
