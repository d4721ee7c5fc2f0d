#include "sample_stream.h"
#include "vn/protocol/writer.h"

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

using vn::protocol::Writer;

namespace {

std::uint32_t word_at(const std::byte* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

} // namespace

TEST_CASE("Writer appends to a growable vector", "[writer]") {
    std::vector<std::byte> out{std::byte{0x11}};
    Writer w(out);
    w.u32(0xcafef00d);
    w.u64(0x0102030405060708ull);
    CHECK_FALSE(w.overflowed());
    CHECK(w.written() == 12);
    REQUIRE(out.size() == 13);
    CHECK(out[0] == std::byte{0x11}); // existing contents are kept
    CHECK(word_at(out.data() + 1) == 0xcafef00d);
    CHECK(word_at(out.data() + 5) == 0x05060708);
    CHECK(word_at(out.data() + 9) == 0x01020304);

    // Far beyond any initial capacity.
    for (std::uint32_t i = 0; i < 10000; ++i)
        w.u32(i);
    CHECK(out.size() == 13 + 40000);
    CHECK(word_at(out.data() + 13 + 4 * 9999) == 9999);
}

TEST_CASE("Writer pads blobs with zeros to 4 bytes", "[writer]") {
    const std::size_t n = GENERATE(0u, 1u, 2u, 3u, 4u, 5u, 7u, 8u);
    std::array<std::byte, 16> window;
    window.fill(std::byte{0xaa});
    Writer w(window.data(), window.size());
    const char src[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
    w.bytes(src, n);
    const std::size_t padded = (n + 3) / 4 * 4;
    CHECK(w.written() == padded);
    CHECK(std::memcmp(window.data(), src, n) == 0);
    for (std::size_t i = n; i < padded; ++i)
        CHECK(window[i] == std::byte{0});
    for (std::size_t i = padded; i < window.size(); ++i)
        CHECK(window[i] == std::byte{0xaa}); // nothing written past the padding
}

TEST_CASE("Writer into a fixed window never writes past its end", "[writer]") {
    std::array<std::byte, 20> storage;
    storage.fill(std::byte{0xee});
    // Only the first 12 bytes are the window; the rest are guard bytes.
    Writer w(storage.data(), 12);

    w.u64(1);
    CHECK_FALSE(w.overflowed());
    w.u64(2); // 16 > 12
    CHECK(w.overflowed());
    CHECK(w.written() == 8);
    // Sticky: a reply with a hole in it is worthless, so a write that would still fit the 4
    // remaining bytes is refused too.
    w.u32(3);
    CHECK(w.overflowed());
    CHECK(w.written() == 8);
    for (std::size_t i = 8; i < storage.size(); ++i)
        CHECK(storage[i] == std::byte{0xee});
}

TEST_CASE("Writer fills a fixed window exactly", "[writer]") {
    std::array<std::byte, 12> window{};
    Writer w(window.data(), window.size());
    w.u32(1);
    w.u64(2);
    CHECK_FALSE(w.overflowed());
    CHECK(w.written() == 12);
    SECTION("a zero-byte write at the end still fits") {
        w.bytes(nullptr, 0);
        CHECK_FALSE(w.overflowed());
    }
    SECTION("one more byte does not") {
        w.bytes("z", 1);
        CHECK(w.overflowed());
    }
}

TEST_CASE("Writer blob padding overflows a window that only fits the payload", "[writer]") {
    std::array<std::byte, 8> storage;
    storage.fill(std::byte{0xee});
    Writer w(storage.data(), 5);
    w.bytes("abcde", 5); // needs 8 with padding
    CHECK(w.overflowed());
    CHECK(w.written() == 0);
    CHECK(storage[0] == std::byte{0xee});
}

TEST_CASE("Writer::slot32 widens small integers and enums to 4 bytes", "[writer]") {
    std::vector<std::byte> out;
    Writer w(out);
    w.slot32(std::uint8_t{0xff});
    w.slot32(std::int8_t{-1});
    w.slot32(vn::test::SignedEnum::Negative);
    w.slot32(std::uint16_t{0x8001});
    REQUIRE(out.size() == 16);
    CHECK(word_at(out.data()) == 0x000000ffu);
    CHECK(word_at(out.data() + 4) == 0xffffffffu);
    CHECK(word_at(out.data() + 8) == 0xfffffffeu);
    CHECK(word_at(out.data() + 12) == 0x00008001u);
}

TEST_CASE("Writer packs word arrays without padding", "[writer]") {
    std::vector<std::byte> out;
    Writer w(out);
    const std::uint32_t w32[3] = {1, 2, 3};
    const std::uint64_t w64[2] = {4, 5};
    w.words32(w32, 3);
    w.words64(w64, 2);
    w.array_size(9);
    REQUIRE(out.size() == 12 + 16 + 8);
    CHECK(word_at(out.data() + 8) == 3);
    CHECK(word_at(out.data() + 12) == 4);
    CHECK(word_at(out.data() + 28) == 9);
}
