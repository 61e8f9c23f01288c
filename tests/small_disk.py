"""Run Python code with a really small disk mounted, for full-disk tests.

A real ``ENOSPC`` needs a real file system that fills up. A tmpfs of a few
hundred KiB does, in RAM, in milliseconds; mounting one needs
``CAP_SYS_ADMIN``, which any user gets inside a new user and mount namespace
(``unshare --user --map-root-user --mount``, on kernels that allow
unprivileged user namespaces, as Debian and Fedora do) and root gets anyway
(else, password-less ``sudo``, as on CI runners, is used for the mount).
The mount lives only in the child's namespace: nothing is left mounted if a
test fails, and the host sees nothing. (``RLIMIT_FSIZE`` gives ``EFBIG`` per
file, not a full disk, and loop devices need root, so neither is used.)

The child's files vanish with its namespace, so the code prints what the
test needs to check as one JSON object on its last line of output.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _namespace_command() -> list:
    """The command prefix that gives the child a private mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("full-disk tests need util-linux's unshare (apt-get install util-linux)")
    if subprocess.run([unshare, "--user", "--map-root-user", "--mount", "true"],
                      capture_output=True).returncode == 0:
        return [unshare, "--user", "--map-root-user", "--mount"]
    if os.geteuid() == 0 and subprocess.run([unshare, "--mount", "true"],
                                            capture_output=True).returncode == 0:
        return [unshare, "--mount"]
    sudo = shutil.which("sudo")  # e.g. a CI runner's user: no user namespaces, but sudo
    if sudo and subprocess.run([sudo, "-n", unshare, "--mount", "true"],
                               capture_output=True).returncode == 0:
        return [sudo, "-n", "--preserve-env=PYTHONPATH", unshare, "--mount"]
    raise RuntimeError("full-disk tests need user namespaces (sysctl "
                       "kernel.unprivileged_userns_clone=1), root or password-less sudo, "
                       "to mount a small tmpfs")


def run_on_small_disk(mount_point, size_kib: int, code: str, *args: str,
                      timeout: float = 120) -> dict:
    """Run ``code`` (Python) with a ``size_kib`` KiB tmpfs mounted at ``mount_point``.

    ``args`` become ``sys.argv[1:]``; the last line the code prints must be
    JSON, which is returned.
    """
    mount_point = Path(mount_point)
    mount_point.mkdir(parents=True, exist_ok=True)
    script = (f'mount -t tmpfs -o size={int(size_kib)}k,mode=0755 tmpfs "$0" && '
              f'exec "{sys.executable}" -c "$1" "${{@:2}}"')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    result = subprocess.run(
        _namespace_command() + ["bash", "-c", script, str(mount_point),
                                textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise AssertionError(f"the child failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
