// The resolver's lookup cache must never outlive the object it remembers: every path that ends an
// object, or gives its id to another object, has to miss the cache afterwards.
#include "vn/decoder/object_table.h"

#include <catch2/catch.hpp>

using namespace vn;
using protocol::DecodeResult;

TEST_CASE("lookup cache: a destroyed object is not found through the cache", "[objects][cache]") {
    protocol::FatalState fatal;
    decoder::ObjectTables objects(fatal);
    REQUIRE(objects.add(VK_OBJECT_TYPE_BUFFER, 0x40, 0x1234) == DecodeResult::Ok);
    std::uint64_t host = 0;
    REQUIRE(objects.lookup(VK_OBJECT_TYPE_BUFFER, 0x40, host) == DecodeResult::Ok);
    REQUIRE(objects.lookup(VK_OBJECT_TYPE_BUFFER, 0x40, host) == DecodeResult::Ok); // now cached
    CHECK(host == 0x1234);

    SECTION("removed through the type-erased API") {
        REQUIRE(objects.remove(VK_OBJECT_TYPE_BUFFER, 0x40) == DecodeResult::Ok);
    }
    SECTION("removed through the typed API") {
        REQUIRE(objects.remove<VkBuffer>(0x40) == DecodeResult::Ok);
    }
    CHECK(objects.lookup(VK_OBJECT_TYPE_BUFFER, 0x40, host) == DecodeResult::Fatal);
    CHECK(fatal.is_fatal());
}

TEST_CASE("lookup cache: a reused id resolves as its new object only", "[objects][cache]") {
    protocol::FatalState fatal;
    decoder::ObjectTables objects(fatal);
    std::uint64_t host = 0;
    REQUIRE(objects.add(VK_OBJECT_TYPE_BUFFER, 0x40, 0x1) == DecodeResult::Ok);
    REQUIRE(objects.lookup(VK_OBJECT_TYPE_BUFFER, 0x40, host) == DecodeResult::Ok);
    REQUIRE(objects.remove(VK_OBJECT_TYPE_BUFFER, 0x40) == DecodeResult::Ok);
    REQUIRE(objects.add(VK_OBJECT_TYPE_IMAGE, 0x40, 0x2) == DecodeResult::Ok);
    REQUIRE(objects.lookup(VK_OBJECT_TYPE_IMAGE, 0x40, host) == DecodeResult::Ok);
    CHECK(host == 0x2);
    CHECK(objects.lookup(VK_OBJECT_TYPE_BUFFER, 0x40, host) == DecodeResult::Fatal);
}

TEST_CASE("lookup cache: colliding ids each resolve to their own object", "[objects][cache]") {
    protocol::FatalState fatal;
    decoder::ObjectTables objects(fatal);
    // More live objects than cache slots: every lookup must still be exact.
    for (std::uint64_t id = 1; id <= 500; ++id)
        REQUIRE(objects.add(VK_OBJECT_TYPE_SAMPLER, id * 64, id + 7) == DecodeResult::Ok);
    for (int pass = 0; pass < 2; ++pass) {
        for (std::uint64_t id = 1; id <= 500; ++id) {
            std::uint64_t host = 0;
            REQUIRE(objects.lookup(VK_OBJECT_TYPE_SAMPLER, id * 64, host) == DecodeResult::Ok);
            REQUIRE(host == id + 7);
        }
    }
}
