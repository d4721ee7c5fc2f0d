// The zygote's cache fill (server/src/allocator.h), on this test process: a fork takes its first
// blocks from the cache its parent filled, where it used to fill the cache itself and copy the
// pages that writes.
#include "allocator.h"
#include "child_value.h"

#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

// Page faults of a fork of a new thread while it allocates one block of each of 16 small sizes;
// with `fill`, the thread fills its cache before the fork. A thread of its own each time: a new
// thread's cache starts empty. The blocks are not written, so that only the allocator's own
// writes fault. Catch's assertions stay on this thread: Catch 2 has none for others.
long fork_allocation_faults(bool fill) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    pid_t child = -1;
    std::thread([&] {
        if (fill)
            vn::server::fill_thread_cache();
        child = ::fork();
        if (child == 0) {
            static std::array<void* volatile, 16> blocks;
            rusage before{};
            ::getrusage(RUSAGE_SELF, &before);
            for (std::size_t i = 0; i < blocks.size(); ++i)
                blocks[i] = std::malloc(16 * (i + 1));
            rusage after{};
            ::getrusage(RUSAGE_SELF, &after);
            vn::test::send_to_parent_and_exit(pipe_fds, after.ru_minflt - before.ru_minflt);
        }
    }).join();
    REQUIRE(child > 0);
    return vn::test::receive_from_child(child, pipe_fds);
}

} // namespace

TEST_CASE("a fork allocates from the cache its parent filled without copying the cache's pages") {
    if (vn::server::allocator_description().rfind("jemalloc", 0) != 0) {
        WARN("not jemalloc (" << vn::server::allocator_description() << "): nothing to fill");
        return;
    }
    const long unfilled = fork_allocation_faults(false);
    const long filled = fork_allocation_faults(true);
    INFO("page faults of 16 first allocations in a fork: " << unfilled << " with the cache empty, "
                                                           << filled << " with it filled");
    // Empty, each size's first block refills its cache bin, a write of pages the fork shares.
    CHECK(unfilled >= 16);
    CHECK(filled * 4 <= unfilled);
}
