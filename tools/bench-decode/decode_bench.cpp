// venus-decode-bench: decodes a recorded command-buffer stream (binds, push constants, draws,
// dispatches, barriers) through the real decoder context with no Vulkan behind it, and prints
// commands/s and MB/s next to memcpy of the same bytes, measured in the same run.
#include "vn/decoder/context.h"
#include "vn/test/recorded_stream.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
    std::size_t batches = 25000; // 8 commands each: 200k commands
    int repeats = 20;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--batches") && i + 1 < argc)
            batches = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: %s [--batches N] [--repeats N]\n", argv[0]);
            return 2;
        }
    }
    const auto stream = vn::test::record_command_buffer_stream(batches);
    const double mb = static_cast<double>(stream.bytes.size()) / 1e6;

    // Best of N for both, alternating, so that both see the same machine state.
    double best_decode = 1e9, best_copy = 1e9;
    std::vector<std::byte> copy(stream.bytes.size());
    for (int r = 0; r < repeats; ++r) {
        vn::decoder::Context context({vn::decoder::Mode::Validate});
        auto t0 = Clock::now();
        if (!context.submit(stream.bytes)) {
            std::fprintf(stderr, "decode failed: %s\n", context.fatal_reason().c_str());
            return 1;
        }
        best_decode = std::min(best_decode, seconds_since(t0));

        t0 = Clock::now();
        std::memcpy(copy.data(), stream.bytes.data(), stream.bytes.size());
        asm volatile("" : : "r"(copy.data()) : "memory");
        best_copy = std::min(best_copy, seconds_since(t0));
    }
    const double cmds = static_cast<double>(stream.commands);
    std::printf("stream: %zu commands, %.2f MB (%.1f bytes/command)\n", stream.commands, mb,
                static_cast<double>(stream.bytes.size()) / cmds);
    std::printf("%-8s %14s %12s\n", "", "commands/s", "MB/s");
    std::printf("%-8s %14.0f %12.1f\n", "decode", cmds / best_decode, mb / best_decode);
    std::printf("%-8s %14.0f %12.1f\n", "memcpy", cmds / best_copy, mb / best_copy);
    std::printf("decode/memcpy throughput: %.1f%% (goal: 20%% or better)\n",
                100.0 * best_copy / best_decode);
    return 0;
}
