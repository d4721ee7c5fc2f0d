#include "vn/protocol/arena.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <limits>

using vn::protocol::Arena;

namespace {

bool is_aligned(const void* p, std::size_t alignment) {
    return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

bool all_zero(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != 0)
            return false;
    return true;
}

} // namespace

TEST_CASE("Arena enforces its cap", "[arena]") {
    Arena arena(1024, 256);
    void* a = arena.allocate(1000, 1);
    REQUIRE(a != nullptr);
    void* b = arena.allocate(24, 1);
    REQUIRE(b != nullptr);
    CHECK(arena.used() == 1024);
    CHECK(arena.allocate(1, 1) == nullptr);
    CHECK(arena.allocate(0, 1) == nullptr); // even an empty request takes a byte
    CHECK(arena.used() == 1024);
}

TEST_CASE("Arena refuses a single request above the cap", "[arena]") {
    Arena arena(4096, 256);
    const std::size_t size =
        GENERATE(std::size_t{4097}, std::size_t{1} << 40, std::numeric_limits<std::size_t>::max(),
                 std::numeric_limits<std::size_t>::max() - 7);
    CHECK(arena.allocate(size, 8) == nullptr);
    CHECK(arena.used() == 0);
    // A refused request leaves the arena usable.
    CHECK(arena.allocate(4096, 1) != nullptr);
}

TEST_CASE("Arena cap counts alignment padding", "[arena]") {
    Arena arena(64, 1024);
    REQUIRE(arena.allocate(1, 1) != nullptr);
    // 1 + 7 bytes of padding + 57 is 65, one over the cap; without the padding it fits.
    CHECK(arena.allocate(57, 8) == nullptr);
    CHECK(arena.allocate(57, 1) != nullptr);
}

TEST_CASE("Arena::allocate_array rejects count * size overflow", "[arena]") {
    Arena arena; // the default 1 GiB cap
    const std::uint64_t count =
        GENERATE(std::numeric_limits<std::uint64_t>::max(), std::uint64_t{1} << 61,
                 (std::uint64_t{1} << 61) + 1, std::uint64_t{1} << 62, std::uint64_t{1} << 28);
    // 2^61 * 8 wraps to 0 and 2^28 * 8 is 2 GiB: both must be refused, not served.
    CHECK(arena.allocate_array<std::uint64_t>(count) == nullptr);
    CHECK(arena.used() == 0);
}

TEST_CASE("Arena::allocate_array serves counts within the cap", "[arena]") {
    Arena arena(1 << 20);
    auto* p = arena.allocate_array<std::uint64_t>(1000);
    REQUIRE(p != nullptr);
    CHECK(is_aligned(p, alignof(std::uint64_t)));
    CHECK(all_zero(p, 8000));
    CHECK(arena.allocate_array<std::uint64_t>((1 << 17) + 1) == nullptr); // 1 MiB + 8 > cap
}

TEST_CASE("Arena honours alignment", "[arena]") {
    const std::size_t alignment = GENERATE(1u, 2u, 4u, 8u, 16u, 32u, 64u, 4096u);
    const std::size_t odd = GENERATE(1u, 3u, 13u);
    Arena arena(1 << 20, 256);
    REQUIRE(arena.allocate(odd, 1) != nullptr);
    for (int i = 0; i < 8; ++i) {
        void* p = arena.allocate(odd, alignment);
        REQUIRE(p != nullptr);
        CHECK(is_aligned(p, alignment));
    }
}

TEST_CASE("Arena memory is zeroed, also when reused after reset", "[arena]") {
    Arena arena(1 << 20, 4096);
    auto* first = static_cast<unsigned char*>(arena.allocate(512, 16));
    REQUIRE(first != nullptr);
    CHECK(all_zero(first, 512));
    std::memset(first, 0xff, 512);
    arena.reset();
    auto* again = static_cast<unsigned char*>(arena.allocate(512, 16));
    REQUIRE(again == first);     // same storage ...
    CHECK(all_zero(again, 512)); // ... but no stale data from the previous command
}

TEST_CASE("Arena::reset makes the whole cap available again", "[arena]") {
    Arena arena(1000, 128);
    void* first = arena.allocate(100, 8);
    REQUIRE(first != nullptr);
    REQUIRE(arena.allocate(900, 8) != nullptr); // its own big chunk
    CHECK(arena.allocate(1, 1) == nullptr);
    arena.reset();
    CHECK(arena.used() == 0);
    // The first chunk is kept and reused.
    CHECK(arena.allocate(100, 8) == first);
    CHECK(arena.allocate(896, 1) != nullptr);
    CHECK(arena.used() == 996);
}

TEST_CASE("Arena allocations do not overlap", "[arena]") {
    Arena arena(1 << 20, 64);
    unsigned char* prev = nullptr;
    std::size_t prev_size = 0;
    for (std::size_t i = 1; i < 200; i += 7) {
        auto* p = static_cast<unsigned char*>(arena.allocate(i, 4));
        REQUIRE(p != nullptr);
        std::memset(p, static_cast<int>(i & 0xff), i);
        if (prev) {
            // The previous block still holds its own fill.
            CHECK(prev[prev_size - 1] == static_cast<unsigned char>(prev_size & 0xff));
        }
        prev = p;
        prev_size = i;
    }
}
