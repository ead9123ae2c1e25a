import os
import subprocess
import sys

import pytest

# The built module lives in build/python unless PBMEM_PYTHONPATH points elsewhere.
_here = os.path.dirname(os.path.abspath(__file__))
_build = os.environ.get("PBMEM_PYTHONPATH", os.path.join(_here, "..", "..", "build", "python"))
if _build not in sys.path:
    sys.path.insert(0, _build)
sys.path.insert(0, _here)

import tfcheck  # noqa: E402  (sets the oracle's environment before anything imports TF)

# Set in the child process that runs an isolated test, so that it runs the test itself.
_ISOLATED_CHILD = "PBMEM_ISOLATED_CHILD"
ISOLATED_TIMEOUT_SECONDS = 600
_OUTPUT_TAIL_CHARS = 4000


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "isolated: runs in a child pytest process, so that a crash of the TF oracle "
        "(or of anything else in the process) fails this one test instead of the whole run")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Runs an `isolated` test in a child pytest process; its exit code decides the result."""
    if pyfuncitem.get_closest_marker("isolated") is None or os.environ.get(_ISOLATED_CHILD):
        return None
    env = dict(os.environ, **tfcheck.ORACLE_ENV, **{_ISOLATED_CHILD: "1"})
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid]
    result = subprocess.run(cmd, cwd=str(pyfuncitem.config.rootpath), env=env, text=True,
                            capture_output=True, timeout=ISOLATED_TIMEOUT_SECONDS)
    if result.returncode != 0:
        how = (f"killed by signal {-result.returncode}" if result.returncode < 0
               else f"exit code {result.returncode}")
        output = (result.stdout + result.stderr)[-_OUTPUT_TAIL_CHARS:]
        pytest.fail(f"isolated run of {pyfuncitem.nodeid} failed ({how}):\n{output}",
                    pytrace=False)
    return True
