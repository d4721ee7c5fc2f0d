#include "sample_stream.h"
#include "vn/protocol/reader.h"
#include "vn/protocol/writer.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

using Catch::Matchers::Contains;
using vn::protocol::DecodeResult;
using vn::protocol::FatalState;
using vn::protocol::Reader;
using vn::protocol::Writer;

namespace {

std::vector<std::byte> words(std::initializer_list<std::uint32_t> ws) {
    std::vector<std::byte> out;
    Writer w(out);
    for (auto v : ws)
        w.u32(v);
    return out;
}

} // namespace

TEST_CASE("Reader reads every scalar kind little-endian and shrinks", "[reader]") {
    const auto bytes = vn::test::encode_sample(vn::test::expected_sample());
    REQUIRE(bytes.size() == vn::test::sample_size);
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);

    std::uint32_t u = 0;
    REQUIRE(r.u32(u) == DecodeResult::Ok);
    CHECK(u == 0xdeadbeef);
    CHECK(r.offset() == 4);
    CHECK(r.remaining() == vn::test::sample_size - 4);

    std::int32_t i = 0;
    REQUIRE(r.i32(i) == DecodeResult::Ok);
    CHECK(i == -123456);
    float f = 0;
    REQUIRE(r.f32(f) == DecodeResult::Ok);
    CHECK(f == 1.5f);
    std::uint64_t u64 = 0;
    REQUIRE(r.u64(u64) == DecodeResult::Ok);
    CHECK(u64 == 0x0123456789abcdefull);
    std::int64_t i64 = 0;
    REQUIRE(r.i64(i64) == DecodeResult::Ok);
    CHECK(i64 == -0x7edcba9876543210ll);
    double d = 0;
    REQUIRE(r.f64(d) == DecodeResult::Ok);
    CHECK(d == -2.25);
    CHECK(r.offset() == 36);
    CHECK_FALSE(fatal.is_fatal());
}

TEST_CASE("Reader decodes the whole sample stream", "[reader]") {
    const auto expected = vn::test::expected_sample();
    const auto bytes = vn::test::encode_sample(expected);
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    vn::test::Sample got;
    REQUIRE(vn::test::decode_sample(r, got) == DecodeResult::Ok);
    CHECK(got == expected);
    CHECK(r.empty());
    CHECK_FALSE(fatal.is_fatal());
}

TEST_CASE("Reader::u64 assembles the low word first", "[reader]") {
    const auto bytes = words({0x89abcdef, 0x01234567});
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    std::uint64_t v = 0;
    REQUIRE(r.u64(v) == DecodeResult::Ok);
    CHECK(v == 0x0123456789abcdefull);
}

TEST_CASE("Reader::slot32 zero-extends unsigned and sign-extends enums", "[reader]") {
    const auto bytes = words({0x000000ff, 0xfffffffe, 0x0000ffff});
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    std::uint8_t u8 = 0;
    REQUIRE(r.slot32(u8) == DecodeResult::Ok);
    CHECK(u8 == 0xff);
    vn::test::SignedEnum e = vn::test::SignedEnum::Positive;
    REQUIRE(r.slot32(e) == DecodeResult::Ok);
    CHECK(e == vn::test::SignedEnum::Negative);
    std::uint16_t u16 = 0;
    REQUIRE(r.slot32(u16) == DecodeResult::Ok);
    CHECK(u16 == 0xffff);
}

TEST_CASE("Reader::peek_u64 does not consume", "[reader]") {
    const auto bytes = words({7, 0});
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    std::uint64_t a = 0, b = 0;
    REQUIRE(r.peek_u64(a) == DecodeResult::Ok);
    CHECK(r.remaining() == 8);
    REQUIRE(r.u64(b) == DecodeResult::Ok);
    CHECK(a == 7);
    CHECK(b == 7);
    CHECK(r.empty());
}

TEST_CASE("Reader: truncation at every byte offset is fatal and never over-reads", "[reader]") {
    const auto full = vn::test::encode_sample(vn::test::expected_sample());
    const std::size_t len = GENERATE_COPY(range(std::size_t{0}, full.size()));
    // An exactly sized heap copy: any read past `len` is an ASan heap-buffer-overflow.
    auto prefix = std::make_unique<std::byte[]>(len);
    std::memcpy(prefix.get(), full.data(), len);
    FatalState fatal;
    Reader r(prefix.get(), len, fatal);
    vn::test::Sample got;
    CHECK(vn::test::decode_sample(r, got) == DecodeResult::Fatal);
    CHECK(fatal.is_fatal());
    CHECK_THAT(fatal.reason(), Contains("truncated stream"));
    CHECK(r.offset() <= len);
}

TEST_CASE("Reader: truncation inside a padded blob is fatal", "[reader]") {
    // 5 payload bytes need 8 on the wire; 6 or 7 present is not enough.
    const std::size_t len = GENERATE(5u, 6u, 7u);
    auto data = std::make_unique<std::byte[]>(len);
    FatalState fatal;
    Reader r(data.get(), len, fatal);
    char out[5];
    CHECK(r.bytes(out, 5) == DecodeResult::Fatal);
    CHECK(r.offset() == 0);
}

TEST_CASE("Reader: a failing read consumes nothing", "[reader]") {
    const auto bytes = words({1});
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    std::uint64_t v = 0;
    CHECK(r.u64(v) == DecodeResult::Fatal);
    CHECK(r.remaining() == 4);
    CHECK_THAT(fatal.reason(), Contains("need 8 bytes, 4 left"));
}

TEST_CASE("Reader::take hands out a run of fields at once, or fails having consumed nothing",
          "[reader]") {
    const auto bytes = words({7, 0x11111111, 0x22222222, 9});
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    const volatile std::byte* at = nullptr;
    REQUIRE(r.take(12, at) == DecodeResult::Ok);
    CHECK(Reader::u32_at(at) == 7);
    CHECK(Reader::u64_at(at + 4) == 0x2222222211111111ull);
    CHECK(r.remaining() == 4);
    CHECK(r.take(8, at) == DecodeResult::Fatal);
    CHECK(r.remaining() == 4);
    CHECK_THAT(fatal.reason(), Contains("need 8 bytes, 4 left"));
}

TEST_CASE("Reader::uenum32_from refuses what slot32_from would sign-extend", "[reader]") {
    enum class E : std::int32_t { a = 1 };
    FatalState fatal;
    const auto bytes = words({});
    Reader r(bytes.data(), bytes.size(), fatal);
    E e{};
    CHECK(r.uenum32_from(1u, e) == DecodeResult::Ok);
    CHECK(e == E::a);
    Reader::slot32_from(0xffffffffu, e);
    CHECK(static_cast<std::int32_t>(e) == -1);
    CHECK(r.uenum32_from(0x80000000u, e) == DecodeResult::Fatal);
    CHECK_THAT(fatal.reason(), Contains("out of range"));
}

TEST_CASE("Reader::array_size must equal the declared count", "[reader]") {
    std::vector<std::byte> bytes;
    Writer w(bytes);
    w.array_size(3);
    w.array_size(3);
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    CHECK(r.array_size(3) == DecodeResult::Ok);
    const std::uint64_t wrong = GENERATE(std::uint64_t{0}, std::uint64_t{2}, std::uint64_t{4},
                                         std::numeric_limits<std::uint64_t>::max());
    CHECK(r.array_size(wrong) == DecodeResult::Fatal);
    CHECK_THAT(fatal.reason(), Contains("array size 3 does not match its count"));
    CHECK_THAT(fatal.reason(), Contains("at byte 16"));
}

TEST_CASE("Reader::reserve rejects counts the stream cannot back, without overflow", "[reader]") {
    std::vector<std::byte> bytes(64);
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);

    SECTION("exact fit") {
        CHECK(r.reserve(8, 8) == DecodeResult::Ok);
        CHECK(r.reserve(64, 1) == DecodeResult::Ok);
        CHECK(r.reserve(0, 1024) == DecodeResult::Ok);
        CHECK(r.remaining() == 64); // reserve checks, it does not consume
        CHECK_FALSE(fatal.is_fatal());
    }
    SECTION("one element too many") {
        CHECK(r.reserve(9, 8) == DecodeResult::Fatal);
        CHECK_THAT(fatal.reason(), Contains("count 9 of 8-byte elements exceeds the 64 bytes"));
    }
    SECTION("counts whose byte size wraps around") {
        // 2^61 * 8 and 2^62 * 4 are 0 modulo 2^64; UINT64_MAX * 8 wraps to a small number.
        const auto [count, size] = GENERATE(table<std::uint64_t, std::size_t>({
            {std::uint64_t{1} << 61, 8},
            {std::uint64_t{1} << 62, 4},
            {std::uint64_t{1} << 63, 2},
            {std::numeric_limits<std::uint64_t>::max(), 8},
            {std::numeric_limits<std::uint64_t>::max(), 1},
            {(std::uint64_t{1} << 61) + 1, 8},
        }));
        CHECK(r.reserve(count, size) == DecodeResult::Fatal);
        CHECK(fatal.is_fatal());
    }
}

TEST_CASE("Reader::bytes consumes the padding and rejects overflowing sizes", "[reader]") {
    std::vector<std::byte> bytes;
    Writer w(bytes);
    const char abc[3] = {'a', 'b', 'c'};
    w.bytes(abc, 3);
    w.u32(99);
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    char out[3] = {};
    REQUIRE(r.bytes(out, 3) == DecodeResult::Ok);
    CHECK(std::memcmp(out, abc, 3) == 0);
    std::uint32_t next = 0;
    REQUIRE(r.u32(next) == DecodeResult::Ok);
    CHECK(next == 99);

    FatalState fatal2;
    Reader r2(bytes.data(), bytes.size(), fatal2);
    const std::size_t huge = GENERATE(std::numeric_limits<std::size_t>::max(),
                                      std::numeric_limits<std::size_t>::max() - 2,
                                      std::numeric_limits<std::size_t>::max() - 3);
    CHECK(r2.bytes(nullptr, huge) == DecodeResult::Fatal);
    CHECK(r2.offset() == 0);
}

TEST_CASE("Reader::words32/words64 reject counts whose byte size overflows", "[reader]") {
    std::vector<std::byte> bytes(16);
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    const std::size_t max = std::numeric_limits<std::size_t>::max();
    SECTION("words32") {
        const std::size_t count = GENERATE_COPY(max / 4 + 1, max, max / 4 * 2, std::size_t{5});
        CHECK(r.words32(nullptr, count) == DecodeResult::Fatal);
    }
    SECTION("words64") {
        const std::size_t count =
            GENERATE_COPY(max / 8 + 1, max, std::size_t{1} << 61, std::size_t{3});
        CHECK(r.words64(nullptr, count) == DecodeResult::Fatal);
    }
    CHECK(r.remaining() == 16);
}

TEST_CASE("Reader works from an unaligned base pointer", "[reader]") {
    const auto expected = vn::test::expected_sample();
    const auto bytes = vn::test::encode_sample(expected);
    const std::size_t misalign = GENERATE(1u, 2u, 3u, 5u);
    // Over-allocated 8-aligned storage, then shifted, so the base really is misaligned.
    std::vector<std::uint64_t> storage(bytes.size() / 8 + 2);
    auto* base = reinterpret_cast<std::byte*>(storage.data()) + misalign;
    REQUIRE((reinterpret_cast<std::uintptr_t>(base) & 3u) != 0);
    std::memcpy(base, bytes.data(), bytes.size());
    FatalState fatal;
    Reader r(base, bytes.size(), fatal);
    vn::test::Sample got;
    REQUIRE(vn::test::decode_sample(r, got) == DecodeResult::Ok);
    CHECK(got == expected);
    CHECK(r.empty());
}

TEST_CASE("Reader reads volatile shared memory into copies", "[reader]") {
    const auto bytes = vn::test::encode_sample(vn::test::expected_sample());
    // Stands in for the guest-writable ring: the reader only ever sees it as const volatile.
    std::vector<std::byte> ring(bytes);
    const volatile std::byte* shared = ring.data();
    FatalState fatal;
    Reader r(shared, ring.size(), fatal);
    std::uint32_t first = 0;
    std::array<std::uint32_t, 1> arr{};
    REQUIRE(r.u32(first) == DecodeResult::Ok);
    // The guest rewrites what was already read: decoded values must not follow.
    std::memset(ring.data(), 0x5a, 4);
    CHECK(first == 0xdeadbeef);
    // ... and what comes later is read as it is now (one load, at read time).
    std::memset(ring.data() + 4, 0, 4);
    REQUIRE(r.words32(arr.data(), 1) == DecodeResult::Ok);
    CHECK(arr[0] == 0);
}

TEST_CASE("Reader::fail keeps the first reason and names the offset", "[reader]") {
    const auto bytes = words({1, 2});
    FatalState fatal;
    Reader r(bytes.data(), bytes.size(), fatal);
    std::uint32_t v = 0;
    REQUIRE(r.u32(v) == DecodeResult::Ok);
    CHECK(r.fail("first problem") == DecodeResult::Fatal);
    CHECK(r.fail("second problem") == DecodeResult::Fatal);
    CHECK(fatal.reason() == "first problem (at byte 4 of the stream)");
}

TEST_CASE("Reader over an empty stream", "[reader]") {
    FatalState fatal;
    Reader r(nullptr, 0, fatal);
    CHECK(r.empty());
    std::uint32_t v = 0;
    CHECK(r.u32(v) == DecodeResult::Fatal);
    CHECK(r.bytes(nullptr, 0) == DecodeResult::Ok);
    CHECK(r.words32(nullptr, 0) == DecodeResult::Ok);
}
