#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite (unit, API and
# end-to-end with the real kubectl). Prints ctest's counts; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j "${TUG_TEST_JOBS:-2}" "$@"
