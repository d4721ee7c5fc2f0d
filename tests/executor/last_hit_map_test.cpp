// LastHitMap (decoder/src/executor/last_hit_map.h): the remembered element must never outlive its
// key, or a range check would read the shape of a destroyed buffer.
#include "last_hit_map.h"

#include <catch2/catch.hpp>

namespace {
using vn::decoder::LastHitMap;
} // namespace

TEST_CASE("a remembered element goes with its key") {
    LastHitMap<int, int> m;
    m[1] = 10;
    m[2] = 20;
    REQUIRE(m.lookup(1) != nullptr);
    CHECK(*m.lookup(1) == 10);

    SECTION("erase by key") {
        m.erase(1);
        CHECK(m.lookup(1) == nullptr);
    }
    SECTION("erase by iterator") {
        m.erase(m.find(1));
        CHECK(m.lookup(1) == nullptr);
    }
    SECTION("clear") {
        m.clear();
        CHECK(m.lookup(1) == nullptr);
    }
    SECTION("erasing another key keeps it") {
        m.erase(2);
        REQUIRE(m.lookup(1) != nullptr);
        CHECK(*m.lookup(1) == 10);
    }
    SECTION("a value written in place is what the next lookup sees") {
        m[1] = 11;
        CHECK(*m.lookup(1) == 11);
    }
    SECTION("the key again after erase finds the new element") {
        m.erase(1);
        m[1] = 12;
        CHECK(*m.lookup(1) == 12);
    }
    SECTION("rehashing keeps the remembered element") {
        for (int i = 100; i < 5000; ++i)
            m[i] = i;
        CHECK(*m.lookup(1) == 10);
        CHECK(m.lookup(4999) != nullptr);
    }
    CHECK(m.lookup(3) == nullptr);
}
