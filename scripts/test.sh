#!/usr/bin/env bash
# THE test command (README, .ci/run). Runs every phase even when an earlier one fails, so one run
# shows everything that is wrong, then prints "N passed, N failed" over the phases and exits
# non-zero if any phase failed.
#
#   build        scripts/build.sh into build/
#   tests        every CTest test of build/ (unit, codec, fuzz replay, pytest, integration)
#   format       clang-format over the hand-written C++ (generated code only exists in build/)
#   asan-build   clang, ASan+UBSan and libFuzzer instrumentation, into build-asan/
#   asan-tests   unit, codec, client and fuzz-replay tests under the sanitizers
#   fuzz         libFuzzer on the decoder for VN_FUZZ_SECONDS (default 60), seeded from
#                tests/fuzz/corpus; skipped when the fuzz target is not built
#   codec-trixie the codec and executor tests again, generated from Debian 13's registry (libvulkan-dev
#                1.4.309, fetched by scripts/trixie-packages.sh, never installed) into
#                build-trixie/, and the executor tests once more on Debian 13's lavapipe (Vulkan
#                1.4, host image copy; the packages the Mesa 25 tests fetched into
#                build/trixie-mesa); skipped when the package cannot be fetched, except in CI
#                (CI=true), where that fails
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

fuzz_seconds=${VN_FUZZ_SECONDS:-60}
jobs=$(nproc)
passed=0
failed=0
failed_phases=()
skipped_phases=()

phase() {
    local name=$1
    shift
    echo
    echo "=== $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: passed ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        failed_phases+=("$name")
        echo "=== $name: FAILED ($((SECONDS - start)) s)"
    fi
}

skip() {
    skipped_phases+=("$1")
    echo
    echo "=== $1: skipped: $2"
}

run_tests() {
    ctest --test-dir build --output-on-failure --no-tests=error
}

check_format() {
    if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        echo "not a git checkout: cannot list the hand-written sources"
        return 1
    fi
    local files
    mapfile -t files < <(git ls-files '*.cpp' '*.h')
    echo "checking ${#files[@]} files"
    clang-format --dry-run --Werror "${files[@]}"
}

# Sanitizer build: clang, so the same tree also yields the libFuzzer target.
asan_targets=()
asan_build() {
    local compilers=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DVN_FUZZ=ON)
    if ! command -v clang++ >/dev/null; then
        echo "clang++ not found: sanitizer build with the default compiler, no fuzz target"
        compilers=(-DVN_FUZZ=OFF)
    fi
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVN_SANITIZE=ON \
        "${compilers[@]}" || return 1
    # Only what the sanitizer phases run: the rest is covered by the normal build.
    local all_targets
    all_targets=$(ninja -C build-asan -t targets all) || return 1
    asan_targets=()
    for t in vn_unit_tests vn_shared_relro_tests vn_codec_tests vn_client_tests vn_capset_tests \
        vn_fuzz_regressions vn_fuzz_decoder; do
        if grep -q "^$t: " <<<"$all_targets"; then
            asan_targets+=("$t")
        fi
    done
    echo "building ${asan_targets[*]}"
    cmake --build build-asan -j "$jobs" --target "${asan_targets[@]}"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

asan_tests() {
    ctest --test-dir build-asan --output-on-failure --no-tests=error -R '^(unit|codec|client|fuzz):'
}

fuzz_binary=build-asan/tests/fuzz/vn_fuzz_decoder
fuzz() {
    local new_corpus=build-asan/fuzz-corpus artifacts=build-asan/fuzz-artifacts/
    mkdir -p "$new_corpus" "$artifacts"
    # New inputs go to build-asan/, never into the tracked seed corpus.
    local seeds=()
    [[ -d tests/fuzz/corpus ]] && seeds+=(tests/fuzz/corpus)
    if ! "$fuzz_binary" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "$new_corpus" "${seeds[@]}"; then
        echo "the fuzzer found a crash: see $artifacts; once fixed, keep the input in" \
            "tests/fuzz/regressions/ so the fuzz replay test runs it from then on"
        return 1
    fi
}

# A second registry: Debian 13's vk.xml and headers, unpacked into build-trixie/pkgs.
trixie=build-trixie/pkgs/root/usr
trixie_fetch() {
    scripts/trixie-packages.sh build-trixie/pkgs libvulkan-dev
}
codec_trixie() {
    cmake -S . -B build-trixie -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DVN_VK_XML="$PWD/$trixie/share/vulkan/registry/vk.xml" \
        -DVN_VULKAN_INCLUDE_DIR="$PWD/$trixie/include" -DVN_MESA25_TESTS=OFF \
        -DVN_TRIXIE_LAVAPIPE_TESTS=ON -DVN_TRIXIE_MESA_DIR="$PWD/build/trixie-mesa" || return 1
    cmake --build build-trixie -j "$jobs" --target vn_codec_tests vn_executor_tests || return 1
    # The executor too: its hand-written handlers must compile and run against 1.4's names.
    ctest --test-dir build-trixie --output-on-failure --no-tests=error -R '^(codec|executor):'
}

phase build scripts/build.sh
phase tests run_tests
phase format check_format
phase asan-build asan_build
phase asan-tests asan_tests
if [[ -x $fuzz_binary ]]; then
    phase fuzz fuzz
else
    skip fuzz "$fuzz_binary was not built"
fi
if trixie_fetch; then
    phase codec-trixie codec_trixie
elif [[ ${CI:-} == true ]]; then
    phase codec-trixie false
else
    skip codec-trixie "Debian 13's libvulkan-dev could not be fetched (see above)"
fi

echo
[[ ${#skipped_phases[@]} -gt 0 ]] && echo "skipped: ${skipped_phases[*]}"
[[ ${#failed_phases[@]} -gt 0 ]] && echo "failed: ${failed_phases[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
