"""The tree passes ``ruff check`` with the project's rules (ruff.toml: pyflakes
and pycodestyle errors, 100 characters a line), so every test run catches them."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_check_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                             "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"ruff found problems (fix them, or run `ruff check --fix .`):\n"
        f"{result.stdout}{result.stderr}")


def test_ruff_uses_the_project_rules():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--show-settings",
                             "tests/test_lint.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    assert "line_length = 100" in result.stdout
    assert os.path.join(ROOT, "ruff.toml") in result.stdout
