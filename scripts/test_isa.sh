#!/usr/bin/env bash
# Runs the TF conformance tests again with oneDNN capped to lower instruction sets, so that one
# machine also checks the kernels the machines with fewer ISA extensions run: the suite written on
# an AVX-512 CPU must hold on an AVX2 one, and the other way round.
#
# A cap takes effect only below the CPU's own ISA: each cap is checked with `pbmem --version`
# (which prints the ISA oneDNN uses) and skipped, with a message, when it changes nothing.
#
# Usage: scripts/test_isa.sh PBMEM_BIN PBMEM_PYTHONPATH [ISA...]   (default ISAs: AVX512_CORE AVX2 SSE41)
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 PBMEM_BIN PBMEM_PYTHONPATH [ISA...]" >&2
  exit 2
fi
PBMEM_BIN="$1"
PBMEM_PYTHONPATH="$2"
shift 2
ISAS=("$@")
if [ "${#ISAS[@]}" -eq 0 ]; then
  ISAS=(AVX512_CORE AVX2 SSE41)
fi
PYTHON="${PYTHON:-python3}"

# The tests whose expectations come from TF's reference kernels (numerics, not memory figures):
# per op, fused chains, whole Keras models, and weights read in place (whose kernels differ too).
CONFORMANCE_TESTS=(tests/py/test_ops_*.py tests/py/test_fusion.py tests/py/test_example_model.py
                   tests/py/test_models.py tests/py/test_weights_mapped.py)

isa_of() {  # the ISA oneDNN reports under the given environment
  env "$@" "$PBMEM_BIN" --version | sed -n 's/.*CPU ISA \([^)]*\)).*/\1/p'
}

native="$(isa_of)"
echo "test_isa: this CPU's oneDNN ISA: ${native:-unknown}"
for isa in "${ISAS[@]}"; do
  # oneDNN 3.x reads ONEDNN_MAX_CPU_ISA; 2.x also reads the older DNNL_MAX_CPU_ISA.
  cap=(ONEDNN_MAX_CPU_ISA="$isa" DNNL_MAX_CPU_ISA="$isa")
  capped="$(isa_of "${cap[@]}")"
  if [ -z "$capped" ]; then
    echo "test_isa: 'pbmem --version' did not report an ISA under the cap $isa" >&2
    exit 1
  fi
  if [ "$capped" = "$native" ]; then
    echo "test_isa: cap $isa leaves oneDNN on $native (not below this CPU's ISA): skipped"
    continue
  fi
  echo "test_isa: conformance tests with oneDNN capped to $isa (runs $capped)"
  env "${cap[@]}" PBMEM_BIN="$PBMEM_BIN" PBMEM_PYTHONPATH="$PBMEM_PYTHONPATH" \
    "$PYTHON" -m pytest -q -p no:cacheprovider "${CONFORMANCE_TESTS[@]}"
done
