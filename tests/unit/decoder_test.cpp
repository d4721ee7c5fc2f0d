#include "vn/protocol/arena.h"
#include "vn/protocol/decoder.h"
#include "vn/protocol/writer.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using vn::protocol::Arena;
using vn::protocol::Decoder;
using vn::protocol::DecodeResult;
using vn::protocol::FatalState;
using vn::protocol::Reader;
using vn::protocol::Writer;

namespace {

// A Decoder over bytes written by the test, with its own fatal state and arena.
struct Harness {
    std::vector<std::byte> bytes;
    FatalState fatal;
    Arena arena;
    Reader reader;
    Decoder dec;

    explicit Harness(std::vector<std::byte> b, std::size_t cap = Arena::default_cap)
        : bytes(std::move(b)), arena(cap),
          reader(bytes.data(), bytes.size(), fatal), dec{reader, arena, nullptr} {}
};

std::vector<std::byte> string_stream(std::uint64_t size, std::string_view payload) {
    std::vector<std::byte> out;
    Writer w(out);
    w.u64(size);
    w.bytes(payload.data(), payload.size());
    return out;
}

} // namespace

TEST_CASE("Decoder::string decodes a terminated string", "[decoder]") {
    std::vector<std::byte> bytes = string_stream(6, std::string_view("hello\0", 6));
    Writer(bytes).u32(77);
    Harness h(std::move(bytes));
    const char* s = nullptr;
    REQUIRE(h.dec.string(s) == DecodeResult::Ok);
    REQUIRE(s != nullptr);
    CHECK(std::string(s) == "hello");
    std::uint32_t next = 0;
    REQUIRE(h.reader.u32(next) == DecodeResult::Ok); // the 2 padding bytes were consumed
    CHECK(next == 77);
}

TEST_CASE("Decoder::string with size 0 is NULL", "[decoder]") {
    Harness h(string_stream(0, ""));
    const char* s = "not null";
    REQUIRE(h.dec.string(s) == DecodeResult::Ok);
    CHECK(s == nullptr);
    CHECK(h.reader.empty());
    CHECK(h.arena.used() == 0);
}

TEST_CASE("Decoder::string without a terminator is fatal", "[decoder]") {
    // The last byte is what matters: an earlier NUL does not make the allocation safe to scan
    // with functions that trust the size.
    const std::string payload = GENERATE(std::string("abcd"), std::string("a"),
                                         std::string("ab\0d", 4), std::string(17, 'x'));
    Harness h(string_stream(payload.size(), payload));
    const char* s = nullptr;
    CHECK(h.dec.string(s) == DecodeResult::Fatal);
    CHECK_THAT(h.fatal.reason(), Contains("NUL"));
}

TEST_CASE("Decoder::string with a huge size is fatal before anything is allocated", "[decoder]") {
    const std::uint64_t size =
        GENERATE(std::numeric_limits<std::uint64_t>::max(), std::uint64_t{1} << 61,
                 std::uint64_t{1} << 40, std::uint64_t{1} << 30, std::uint64_t{9});
    Harness h(string_stream(size, std::string_view("abcdefg\0", 8)));
    const char* s = nullptr;
    CHECK(h.dec.string(s) == DecodeResult::Fatal);
    CHECK(h.arena.used() == 0);
    CHECK_THAT(h.fatal.reason(), Contains("exceeds"));
}

TEST_CASE("Decoder::string truncated inside its padding is fatal", "[decoder]") {
    auto bytes = string_stream(6, std::string_view("hello\0", 6));
    bytes.resize(bytes.size() - 1);
    Harness h(std::move(bytes));
    const char* s = nullptr;
    CHECK(h.dec.string(s) == DecodeResult::Fatal);
}

TEST_CASE("Decoder::char_array needs the exact count and a NUL", "[decoder]") {
    char dst[8];
    SECTION("NUL anywhere inside is enough") {
        Harness h(string_stream(8, std::string_view("abc\0zzzz", 8)));
        REQUIRE(h.dec.char_array(dst, 8) == DecodeResult::Ok);
        CHECK(std::string(dst) == "abc");
        CHECK(h.reader.empty());
    }
    SECTION("no NUL at all") {
        Harness h(string_stream(8, "abcdefgh"));
        CHECK(h.dec.char_array(dst, 8) == DecodeResult::Fatal);
        CHECK_THAT(h.fatal.reason(), Contains("NUL"));
    }
    SECTION("count differs from the array length") {
        const std::uint64_t count = GENERATE(std::uint64_t{0}, std::uint64_t{7}, std::uint64_t{9},
                                             std::numeric_limits<std::uint64_t>::max());
        Harness h(string_stream(count, std::string_view("abc\0zzzz", 8)));
        CHECK(h.dec.char_array(dst, 8) == DecodeResult::Fatal);
        CHECK_THAT(h.fatal.reason(), Contains("does not match"));
    }
    SECTION("truncated payload") {
        Harness h(string_stream(8, std::string_view("abc\0", 4)));
        CHECK(h.dec.char_array(dst, 8) == DecodeResult::Fatal);
        CHECK_THAT(h.fatal.reason(), Contains("truncated"));
    }
}

TEST_CASE("Decoder::alloc checks the wire before the arena", "[decoder]") {
    std::vector<std::byte> bytes(64);
    SECTION("a count the stream cannot back allocates nothing") {
        Harness h(bytes);
        std::uint64_t* out = nullptr;
        CHECK(h.dec.alloc(out, 9, 8) == DecodeResult::Fatal);
        CHECK(out == nullptr);
        CHECK(h.arena.used() == 0);
    }
    SECTION("a count the stream backs but the arena cap does not") {
        Harness h(bytes, 32);
        std::uint64_t* out = nullptr;
        CHECK(h.dec.alloc(out, 8, 8) == DecodeResult::Fatal);
        CHECK_THAT(h.fatal.reason(), Contains("arena cap"));
    }
    SECTION("within both") {
        Harness h(bytes);
        std::uint64_t* out = nullptr;
        REQUIRE(h.dec.alloc(out, 8, 8) == DecodeResult::Ok);
        CHECK(out != nullptr);
        CHECK(h.reader.remaining() == 64);
    }
    SECTION("count 0 is NULL") {
        Harness h(bytes);
        std::uint64_t* out = reinterpret_cast<std::uint64_t*>(&h);
        REQUIRE(h.dec.alloc(out, 0, 8) == DecodeResult::Ok);
        CHECK(out == nullptr);
    }
}

TEST_CASE("Decoder::alloc_unbacked is bounded by the arena cap only", "[decoder]") {
    Harness h({}, 1024);
    std::uint32_t* out = nullptr;
    REQUIRE(h.dec.alloc_unbacked(out, 256) == DecodeResult::Ok);
    CHECK(out != nullptr);
    const std::uint64_t count = GENERATE(std::uint64_t{1}, std::uint64_t{1} << 62,
                                         std::numeric_limits<std::uint64_t>::max());
    CHECK(h.dec.alloc_unbacked(out, count) == DecodeResult::Fatal);
}

TEST_CASE("Decoder::handle without a resolver keeps ids as they are", "[decoder]") {
    std::vector<std::byte> bytes;
    Writer w(bytes);
    w.u64(0);
    w.u64(0x1234);
    Harness h(std::move(bytes));
    VkBuffer a = reinterpret_cast<VkBuffer>(std::uintptr_t{1});
    VkBuffer b = VK_NULL_HANDLE;
    REQUIRE(h.dec.handle(a, VK_OBJECT_TYPE_BUFFER) == DecodeResult::Ok);
    REQUIRE(h.dec.handle(b, VK_OBJECT_TYPE_BUFFER) == DecodeResult::Ok);
    CHECK(a == VK_NULL_HANDLE);
    CHECK(reinterpret_cast<std::uintptr_t>(b) == 0x1234);
}
