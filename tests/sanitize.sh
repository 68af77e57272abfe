#!/usr/bin/env bash
# Builds the extension with AddressSanitizer + UndefinedBehaviorSanitizer and runs the test
# suite against that build. Any memory error or undefined behaviour aborts the run (non-zero).
#   bash tests/sanitize.sh [pytest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$root" -B "$work/build" "${gen[@]}" -DFASTOPTIM_SANITIZE=ON \
  -DPython_EXECUTABLE="$(command -v python)" -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" \
  > "$work/configure.log"
cmake --build "$work/build" -j2 > "$work/build.log"

# The package with the sanitized module, first on the path.
mkdir -p "$work/pkg"
cp -r "$root/python/fastoptim" "$work/pkg/"
cp "$work"/build/_core*.so "$work/pkg/fastoptim/"

# Python itself is not built with ASan: preload the runtimes. Leak checking is off because the
# interpreter keeps memory until exit by design; every error is fatal.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_odr_violation=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$work/pkg${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"
python -c "import fastoptim, sys; assert fastoptim.__file__.startswith('$work'), fastoptim.__file__"
# Left out: the 8.6 GB test (ASan's shadow memory would double it), the build test (it compiles
# its own module) and the RSS bound (ASan holds freed memory in quarantine by design).
python -m pytest -q -p no:cacheprovider \
  --deselect tests/test_optimizer.py::test_array_over_two_to_the_31_elements \
  --deselect tests/test_build.py::test_scalar_only_build_compiles_and_steps \
  -k "not rss_stays_flat" "$@"
