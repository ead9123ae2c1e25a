"""Locating the build under test (the `pbmem` binary and Python module) and running the CLI.

The binary is $PBMEM_BIN or build/pbmem under the repository root; the Python module comes from
conftest.py's sys.path setup ($PBMEM_PYTHONPATH or build/python). A missing build fails the test
with a message saying what to build or set: nothing is skipped silently.
"""
import os
import subprocess
from typing import Sequence

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLI_TIMEOUT_SECONDS = 300
EXIT_ERROR = 1
ERROR_PREFIX = "pbmem: error: "
# Text that must never reach stderr: it means a crash or an uncaught exception.
# "unexpected failure" is main()'s catch-all for an exception that escaped the Status path.
CRASH_MARKERS = ("Traceback", "Aborted", "terminate called", "Segmentation fault",
                 "core dumped", "AddressSanitizer", "runtime error:", "unexpected failure")


def pbmem_binary() -> str:
    path = os.environ.get("PBMEM_BIN", os.path.join(REPO_ROOT, "build", "pbmem"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"pbmem binary not found at {path}: build it (cmake --build build) or set "
                    f"PBMEM_BIN to the built binary", pytrace=False)
    return path


def import_pbmem():
    try:
        import pbmem
    except ImportError as e:
        pytest.fail(f"cannot import the pbmem Python module ({e}): build it or set "
                    f"PBMEM_PYTHONPATH to the build's python/ directory", pytrace=False)
    return pbmem


def run_cli(args: Sequence[str], timeout: float = CLI_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    """Runs `pbmem ARGS...`, capturing text output. A hang past `timeout` fails the test."""
    cmd = [pbmem_binary()] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pbmem hung for {timeout}s: {' '.join(cmd)}", pytrace=False)


def describe(result: subprocess.CompletedProcess) -> str:
    return (f"command: {' '.join(result.args)}\nexit code: {result.returncode}\n"
            f"stdout: {result.stdout[-2000:]!r}\nstderr: {result.stderr[-2000:]!r}")


def assert_no_crash(result: subprocess.CompletedProcess) -> None:
    assert result.returncode >= 0, f"pbmem died from signal {-result.returncode}\n{describe(result)}"
    for marker in CRASH_MARKERS:
        assert marker not in result.stderr, f"crash marker {marker!r} on stderr\n{describe(result)}"


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert_no_crash(result)
    assert result.returncode == 0, f"pbmem failed\n{describe(result)}"


def assert_cli_error(result: subprocess.CompletedProcess, *must_mention: str) -> str:
    """Exit code 1, one 'pbmem: error: ...' message naming every string in `must_mention`
    (the file, node, op, flag at fault), and no crash. Returns the message."""
    assert_no_crash(result)
    assert result.returncode == EXIT_ERROR, f"expected exit code 1\n{describe(result)}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(ERROR_PREFIX), \
        f"stderr does not end with a '{ERROR_PREFIX}...' line\n{describe(result)}"
    message = "\n".join(lines)
    for text in must_mention:
        assert text in message, f"error message does not mention {text!r}\n{describe(result)}"
    return message


def assert_api_error(excinfo, *must_mention: str) -> str:
    """The pbmem.Error raised by the Python API names every string in `must_mention`."""
    message = str(excinfo.value)
    for text in must_mention:
        assert text in message, f"pbmem.Error message does not mention {text!r}: {message!r}"
    return message
