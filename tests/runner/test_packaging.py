"""The runner installs alone, without the server's dependencies."""

import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "runner"


def test_runner_installs_without_server_dependencies(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(RUNNER)], check=True,
                   timeout=300, capture_output=True)

    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], check=True,
                            capture_output=True, text=True).stdout
    version = subprocess.run([str(venv / "bin" / "clevagent-runner"), "--version"], check=True,
                             capture_output=True, text=True).stdout

    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "clevagent-runner-oss" in installed
    assert not installed & {"fastapi", "sqlalchemy", "psycopg", "psycopg-binary", "uvicorn"}
    assert version.startswith("clevagent-runner 0.1.0")
