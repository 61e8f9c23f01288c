"""The peer, orange3-imageanalytics, in its own virtual environment.

Benchmarks time the peer side by side with Image Lab in one run. The peer
lives in ``.venv-peer`` (created on first use) so its packages never mix
with ours; a benchmark runs peer code there with ``run_in_peer``.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: ``ORANGE_IMAGELAB_PEER_VENV`` puts it elsewhere (e.g. one per worktree).
PEER_VENV = Path(os.environ.get("ORANGE_IMAGELAB_PEER_VENV", ROOT / ".venv-peer"))
PEER_PACKAGES = ["orange3-imageanalytics==0.13.0", "PyQt5"]


def peer_python() -> Path:
    """Python of the peer's venv, created and filled on first use (minutes)."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".peer-installed"
    if not stamp.exists():
        print(f"[peer] installing {' '.join(PEER_PACKAGES)} into {PEER_VENV} ...",
              file=sys.stderr, flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES],
                       check=True)
        stamp.write_text("ok\n")
    return python


def run_in_peer(code: str, *args: str, timeout: float = 3600) -> dict:
    """Run ``code`` with the peer's Python; it must print one JSON object last.

    ``args`` are passed as ``sys.argv[1:]``. Returns the parsed JSON.
    """
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [str(peer_python()), "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"peer failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
