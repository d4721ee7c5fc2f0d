// The zygote's code mapping (server/src/startup_code.h), on this test process itself: a fork gets
// the program's code with its page tables afterwards, where before it had to fault it in, and
// the mappings keep their bytes, protection and extent.
#include "child_value.h"
#include "smaps_entry.h"
#include "startup_code.h"

#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// In a fork of this process: the KiB of `address`'s mapping resident there, as the child finds
// it before running anything of the program but this function's few pages.
long rss_in_a_fork(std::uintptr_t address) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0)
        vn::test::send_to_parent_and_exit(pipe_fds, vn::test::smaps_entry_at(address).rss_kib);
    return vn::test::receive_from_child(child, pipe_fds);
}

bool covers(const std::vector<vn::server::AddressRange>& ranges, std::uintptr_t address) {
    for (const auto& r : ranges)
        if (address >= r.start && address < r.end)
            return true;
    return false;
}

} // namespace

TEST_CASE("the program and the libraries loaded with it are the startup objects",
          "[startup_code]") {
    const auto objects = vn::server::startup_objects();
    // This program's code, and the C library's.
    CHECK(covers(objects, reinterpret_cast<std::uintptr_t>(&rss_in_a_fork)));
    CHECK(covers(objects, reinterpret_cast<std::uintptr_t>(&::getpid)));
    // The vDSO is the kernel's.
    const auto vdso = reinterpret_cast<std::uintptr_t>(::dlsym(RTLD_DEFAULT, "__vdso_time"));
    if (vdso)
        CHECK_FALSE(covers(objects, vdso));
}

TEST_CASE("a fork gets the startup objects' code mapped, with its bytes and protection",
          "[startup_code]") {
    const auto code = reinterpret_cast<std::uintptr_t>(&rss_in_a_fork);
    const vn::test::SmapsEntry before = vn::test::smaps_entry_at(code);
    REQUIRE(before.header.find(" r-xp ") != std::string::npos);
    const long size_kib = static_cast<long>((before.end - before.start) >> 10);
    const std::vector<unsigned char> bytes(reinterpret_cast<const unsigned char*>(before.start),
                                           reinterpret_cast<const unsigned char*>(before.end));
    // Without: the fork has only what it faulted in itself.
    CHECK(rss_in_a_fork(code) < size_kib);

    std::string error;
    const auto mapped = vn::server::map_code_for_forks(vn::server::startup_objects(), error);
    INFO(error);
    CHECK(error.empty());
    CHECK(mapped.mappings >= 4); // the program's and the C library's code and read-only data
    CHECK(mapped.bytes >= static_cast<std::size_t>(size_kib) << 10);

    // The same mapping, whole, read-only and executable, holding the same bytes.
    const vn::test::SmapsEntry after = vn::test::smaps_entry_at(code);
    CHECK(after.header == before.header);
    CHECK(std::memcmp(reinterpret_cast<const void*>(after.start), bytes.data(), bytes.size()) == 0);
    CHECK(after.rss_kib == size_kib);
    // And a fork has all of it without a fault.
    CHECK(rss_in_a_fork(code) == size_kib);
}
