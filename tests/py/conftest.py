import os
import sys

# The built module lives in build/python unless PBMEM_PYTHONPATH points elsewhere.
_here = os.path.dirname(os.path.abspath(__file__))
_build = os.environ.get("PBMEM_PYTHONPATH", os.path.join(_here, "..", "..", "build", "python"))
if _build not in sys.path:
    sys.path.insert(0, _build)
sys.path.insert(0, _here)
