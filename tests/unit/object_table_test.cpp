#include "vn/decoder/object_table.h"
#include "vn/protocol/arena.h"
#include "vn/protocol/decoder.h"
#include "vn/protocol/writer.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

using Catch::Matchers::Contains;
using vn::decoder::HandleTraits;
using vn::decoder::ObjectEntry;
using vn::decoder::ObjectState;
using vn::decoder::ObjectTables;
using vn::protocol::DecodeResult;
using vn::protocol::FatalState;
using vn::protocol::handle_from_u64;
using vn::protocol::handle_to_u64;

namespace {

template <typename H>
H host(std::uint64_t v) {
    return handle_from_u64<H>(v);
}

struct CountingState : ObjectState {
    explicit CountingState(int& live) : m_live(live) { ++m_live; }
    ~CountingState() override { --m_live; }
    int& m_live;
};

// Every handle type the tables track, for tests that must cover all of them.
using AllTracked =
    std::tuple<VkInstance, VkPhysicalDevice, VkDevice, VkQueue, VkSemaphore, VkCommandBuffer,
               VkFence, VkDeviceMemory, VkBuffer, VkImage, VkEvent, VkQueryPool, VkBufferView,
               VkImageView, VkShaderModule, VkPipelineCache, VkPipelineLayout, VkRenderPass,
               VkPipeline, VkDescriptorSetLayout, VkSampler, VkDescriptorPool, VkDescriptorSet,
               VkFramebuffer, VkCommandPool, VkSamplerYcbcrConversion, VkDescriptorUpdateTemplate,
               VkPrivateDataSlot, VkAccelerationStructureKHR, VkDeferredOperationKHR>;

// The typed API of one handle type behind plain function pointers, so the checks over all types
// are written (and compiled) once instead of once per type.
struct TypedOps {
    const char* name;
    VkObjectType type;
    std::optional<std::uint64_t> (*find)(ObjectTables&, std::uint64_t);
    DecodeResult (*add)(ObjectTables&, std::uint64_t, std::uint64_t);
    DecodeResult (*remove)(ObjectTables&, std::uint64_t);
};

template <typename H>
TypedOps typed_ops() {
    return {
        HandleTraits<H>::name,
        HandleTraits<H>::object_type,
        [](ObjectTables& t, std::uint64_t id) -> std::optional<std::uint64_t> {
            const auto* entry = t.find<H>(id);
            if (!entry)
                return std::nullopt;
            return handle_to_u64(entry->handle);
        },
        [](ObjectTables& t, std::uint64_t id, std::uint64_t h) { return t.add<H>(id, host<H>(h)); },
        [](ObjectTables& t, std::uint64_t id) { return t.remove<H>(id); },
    };
}

} // namespace

TEST_CASE("ObjectTables: add, find, get, resolve", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkBuffer>(0x10, host<VkBuffer>(0xb0f)) == DecodeResult::Ok);
    CHECK(tables.size() == 1);
    CHECK(tables.type_of(0x10) == VK_OBJECT_TYPE_BUFFER);

    auto* entry = tables.find<VkBuffer>(0x10);
    REQUIRE(entry != nullptr);
    CHECK(handle_to_u64(entry->handle) == 0xb0f);

    ObjectEntry<VkBuffer>* got = nullptr;
    REQUIRE(tables.get<VkBuffer>(0x10, got) == DecodeResult::Ok);
    CHECK(got == entry);

    std::uint64_t h = 0;
    REQUIRE(tables.resolve(VK_OBJECT_TYPE_BUFFER, 0x10, h) == DecodeResult::Ok);
    CHECK(h == 0xb0f);
    CHECK_FALSE(fatal.is_fatal());
}

TEST_CASE("ObjectTables: id 0 is never allocatable", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    SECTION("typed") {
        CHECK(tables.add<VkImage>(0, host<VkImage>(1)) == DecodeResult::Fatal);
    }
    SECTION("by object type") {
        CHECK(tables.add(VK_OBJECT_TYPE_IMAGE, 0, 1) == DecodeResult::Fatal);
    }
    CHECK(fatal.reason() == "cannot create a VkImage with object id 0 (VK_NULL_HANDLE)");
    CHECK(tables.size() == 0);
    CHECK(tables.find<VkImage>(0) == nullptr);
}

TEST_CASE("ObjectTables: creating an id in use is fatal, whatever the type", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkImage>(0x10, host<VkImage>(0xa)) == DecodeResult::Ok);
    SECTION("same type") {
        CHECK(tables.add<VkImage>(0x10, host<VkImage>(0xb)) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "cannot create a VkImage with object id 0x10: in use by a VkImage");
    }
    SECTION("another type") {
        CHECK(tables.add<VkBuffer>(0x10, host<VkBuffer>(0xb)) == DecodeResult::Fatal);
        CHECK(fatal.reason() ==
              "cannot create a VkBuffer with object id 0x10: in use by a VkImage");
        CHECK(tables.find<VkBuffer>(0x10) == nullptr);
    }
    SECTION("another type, by object type") {
        CHECK(tables.add(VK_OBJECT_TYPE_DEVICE_MEMORY, 0x10, 0xb) == DecodeResult::Fatal);
        CHECK_THAT(fatal.reason(), Contains("in use by a VkImage"));
        CHECK(tables.find<VkDeviceMemory>(0x10) == nullptr);
    }
    // The original object is untouched.
    CHECK(tables.size() == 1);
    REQUIRE(tables.find<VkImage>(0x10) != nullptr);
    CHECK(handle_to_u64(tables.find<VkImage>(0x10)->handle) == 0xa);
}

TEST_CASE("ObjectTables: looking an id up as the wrong type is fatal", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkImage>(0x10, host<VkImage>(0xa)) == DecodeResult::Ok);
    SECTION("get") {
        ObjectEntry<VkBuffer>* out = nullptr;
        CHECK(tables.get<VkBuffer>(0x10, out) == DecodeResult::Fatal);
        CHECK(out == nullptr);
    }
    SECTION("resolve") {
        std::uint64_t h = 77;
        CHECK(tables.resolve(VK_OBJECT_TYPE_BUFFER, 0x10, h) == DecodeResult::Fatal);
        CHECK(h == 77);
    }
    CHECK(fatal.reason() == "object id 0x10 is a VkImage, not a VkBuffer");
    // find() is the non-fatal host-side lookup.
    FatalState fatal2;
    ObjectTables tables2(fatal2);
    REQUIRE(tables2.add<VkImage>(0x10, host<VkImage>(0xa)) == DecodeResult::Ok);
    CHECK(tables2.find<VkBuffer>(0x10) == nullptr);
    CHECK_FALSE(fatal2.is_fatal());
}

TEST_CASE("ObjectTables: unknown and null ids are fatal on lookup", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkBuffer>(0x10, host<VkBuffer>(0xa)) == DecodeResult::Ok);
    std::uint64_t h = 0;
    SECTION("unknown") {
        CHECK(tables.resolve(VK_OBJECT_TYPE_BUFFER, 0x11, h) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "unknown VkBuffer id 0x11");
    }
    SECTION("largest id") {
        ObjectEntry<VkBuffer>* out = nullptr;
        CHECK(tables.get<VkBuffer>(std::numeric_limits<std::uint64_t>::max(), out) ==
              DecodeResult::Fatal);
        CHECK(fatal.reason() == "unknown VkBuffer id 0xffffffffffffffff");
    }
    SECTION("null") {
        CHECK(tables.resolve(VK_OBJECT_TYPE_BUFFER, 0, h) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "object id 0 (VK_NULL_HANDLE) where a VkBuffer is required");
    }
    SECTION("untracked type") {
        CHECK(tables.resolve(VK_OBJECT_TYPE_SURFACE_KHR, 0x10, h) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "object id 0x10 has an untracked type (VkObjectType 1000000000)");
    }
}

TEST_CASE("ObjectTables: destroy removes, and the id can be reused", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkFence>(0x20, host<VkFence>(0xf)) == DecodeResult::Ok);
    // Resolved once before the destroy, so that nothing remembered from this lookup may outlive
    // the object.
    std::uint64_t before = 0;
    REQUIRE(tables.resolve(VK_OBJECT_TYPE_FENCE, 0x20, before) == DecodeResult::Ok);
    CHECK(before == 0xf);
    const bool by_object_type = GENERATE(false, true);
    if (by_object_type)
        REQUIRE(tables.remove(VK_OBJECT_TYPE_FENCE, 0x20) == DecodeResult::Ok);
    else
        REQUIRE(tables.remove<VkFence>(0x20) == DecodeResult::Ok);
    CHECK(tables.size() == 0);
    CHECK(tables.find<VkFence>(0x20) == nullptr);
    CHECK_FALSE(tables.type_of(0x20).has_value());

    SECTION("lookup after destroy is fatal") {
        std::uint64_t h = 0;
        CHECK(tables.resolve(VK_OBJECT_TYPE_FENCE, 0x20, h) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "unknown VkFence id 0x20");
    }
    SECTION("a destroyed id may name a new object of the same type") {
        REQUIRE(tables.add<VkFence>(0x20, host<VkFence>(0xe)) == DecodeResult::Ok);
        std::uint64_t h = 0;
        REQUIRE(tables.resolve(VK_OBJECT_TYPE_FENCE, 0x20, h) == DecodeResult::Ok);
        CHECK(h == 0xe);
    }
    SECTION("a destroyed id may name a new object of another type") {
        // Mesa uses object addresses as ids, and the allocator hands addresses out again.
        REQUIRE(tables.add<VkSemaphore>(0x20, host<VkSemaphore>(0x5)) == DecodeResult::Ok);
        std::uint64_t h = 0;
        REQUIRE(tables.resolve(VK_OBJECT_TYPE_SEMAPHORE, 0x20, h) == DecodeResult::Ok);
        CHECK(h == 0x5);
        CHECK_FALSE(fatal.is_fatal());
        CHECK(tables.resolve(VK_OBJECT_TYPE_FENCE, 0x20, h) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "object id 0x20 is a VkSemaphore, not a VkFence");
    }
    SECTION("destroying twice is fatal") {
        CHECK(tables.remove<VkFence>(0x20) == DecodeResult::Fatal);
        CHECK(fatal.reason() == "unknown VkFence id 0x20");
    }
}

TEST_CASE("ObjectTables: removing with the wrong type is fatal and keeps the object", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkImage>(0x30, host<VkImage>(0x1)) == DecodeResult::Ok);
    SECTION("typed") {
        CHECK(tables.remove<VkImageView>(0x30) == DecodeResult::Fatal);
    }
    SECTION("by object type") {
        CHECK(tables.remove(VK_OBJECT_TYPE_IMAGE_VIEW, 0x30) == DecodeResult::Fatal);
    }
    CHECK(fatal.reason() == "object id 0x30 is a VkImage, not a VkImageView");
    CHECK(tables.size() == 1);
    CHECK(tables.find<VkImage>(0x30) != nullptr);
}

TEST_CASE("ObjectTables: removing VK_NULL_HANDLE is a no-op, like vkDestroy*", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    CHECK(tables.remove<VkBuffer>(0) == DecodeResult::Ok);
    CHECK(tables.remove(VK_OBJECT_TYPE_BUFFER, 0) == DecodeResult::Ok);
    CHECK_FALSE(fatal.is_fatal());
}

TEST_CASE("ObjectTables: untracked object types are fatal and leave no trace", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    const VkObjectType type =
        GENERATE(VK_OBJECT_TYPE_UNKNOWN, VK_OBJECT_TYPE_SURFACE_KHR, VK_OBJECT_TYPE_SWAPCHAIN_KHR,
                 VK_OBJECT_TYPE_MAX_ENUM, static_cast<VkObjectType>(1000150001));
    CHECK(tables.add(type, 0x40, 1) == DecodeResult::Fatal);
    CHECK_THAT(fatal.reason(), Contains("untracked type"));
    CHECK(tables.size() == 0);
    CHECK_FALSE(tables.type_of(0x40).has_value());
    FatalState fatal2;
    ObjectTables tables2(fatal2);
    CHECK(tables2.remove(type, 0x40) == DecodeResult::Fatal);
}

TEST_CASE("ObjectTables: the first failure is the one reported", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    std::uint64_t h = 0;
    CHECK(tables.resolve(VK_OBJECT_TYPE_DEVICE, 0x1, h) == DecodeResult::Fatal);
    CHECK(tables.add<VkDevice>(0, host<VkDevice>(1)) == DecodeResult::Fatal);
    CHECK(fatal.reason() == "unknown VkDevice id 0x1");
}

TEST_CASE("ObjectTables: per-object state lives exactly as long as the object", "[objects]") {
    FatalState fatal;
    int live = 0;
    {
        ObjectTables tables(fatal);
        REQUIRE(tables.add<VkDeviceMemory>(0x50, host<VkDeviceMemory>(0x1),
                                           std::make_unique<CountingState>(live)) ==
                DecodeResult::Ok);
        REQUIRE(tables.add<VkDeviceMemory>(0x51, host<VkDeviceMemory>(0x2),
                                           std::make_unique<CountingState>(live)) ==
                DecodeResult::Ok);
        CHECK(live == 2);
        auto* entry = tables.find<VkDeviceMemory>(0x50);
        REQUIRE(entry != nullptr);
        CHECK(dynamic_cast<CountingState*>(entry->state.get()) != nullptr);
        REQUIRE(tables.remove<VkDeviceMemory>(0x50) == DecodeResult::Ok);
        CHECK(live == 1);
        // A refused duplicate does not take ownership of anything that outlives the call.
        CHECK(tables.add<VkDeviceMemory>(0x51, host<VkDeviceMemory>(0x3),
                                         std::make_unique<CountingState>(live)) ==
              DecodeResult::Fatal);
        CHECK(live == 1);
    }
    CHECK(live == 0);
}

TEST_CASE("ObjectTables: entries stay put while other objects come and go", "[objects]") {
    FatalState fatal;
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkDevice>(0x1000, host<VkDevice>(0xd)) == DecodeResult::Ok);
    auto* device = tables.find<VkDevice>(0x1000);
    for (std::uint64_t id = 1; id <= 5000; ++id)
        REQUIRE(tables.add<VkDevice>(0x100000 + id, host<VkDevice>(id)) == DecodeResult::Ok);
    CHECK(tables.find<VkDevice>(0x1000) == device); // rehashing keeps node addresses
    CHECK(tables.table<VkDevice>().size() == 5001);
    CHECK(tables.size() == 5001);
}

TEST_CASE("ObjectTables: every tracked type round-trips through both APIs", "[objects]") {
    STATIC_REQUIRE(std::tuple_size_v<AllTracked> == vn::decoder::tracked_handle_type_count);
    const auto all =
        std::apply([](auto... tag) { return std::vector<TypedOps>{typed_ops<decltype(tag)>()...}; },
                   AllTracked{});
    FatalState fatal;
    ObjectTables tables(fatal);
    std::uint64_t id = 0x100;
    for (const TypedOps& ops : all) {
        INFO(ops.name);
        CHECK(vn::decoder::object_type_name(ops.type) == ops.name);
        CHECK(vn::decoder::is_tracked_object_type(ops.type));
        // Added by object type, found through the typed table: the X-macro rows agree.
        REQUIRE(tables.add(ops.type, id, id * 16) == DecodeResult::Ok);
        CHECK(ops.find(tables, id) == id * 16);
        std::uint64_t h = 0;
        REQUIRE(tables.resolve(ops.type, id, h) == DecodeResult::Ok);
        CHECK(h == id * 16);
        REQUIRE(ops.remove(tables, id) == DecodeResult::Ok);
        CHECK(tables.type_of(id) == std::nullopt);
        CHECK(ops.find(tables, id) == std::nullopt);
        // And the typed add is found by object type.
        REQUIRE(ops.add(tables, id, id * 32) == DecodeResult::Ok);
        REQUIRE(tables.resolve(ops.type, id, h) == DecodeResult::Ok);
        CHECK(h == id * 32);
        CHECK(tables.type_of(id) == ops.type);
        ++id;
    }
    CHECK(tables.size() == std::tuple_size_v<AllTracked>);
    CHECK_FALSE(fatal.is_fatal());
}

TEST_CASE("ObjectTables resolves handles for the Decoder", "[objects][decoder]") {
    std::vector<std::byte> bytes;
    vn::protocol::Writer w(bytes);
    w.u64(0);    // VK_NULL_HANDLE: never reaches the resolver
    w.u64(0x10); // a live buffer
    w.u64(0x20); // an image where a buffer is expected
    FatalState fatal;
    vn::protocol::Arena arena;
    vn::protocol::Reader reader(bytes.data(), bytes.size(), fatal);
    ObjectTables tables(fatal);
    REQUIRE(tables.add<VkBuffer>(0x10, host<VkBuffer>(0xabc0)) == DecodeResult::Ok);
    REQUIRE(tables.add<VkImage>(0x20, host<VkImage>(0xdef0)) == DecodeResult::Ok);
    vn::protocol::Decoder dec{reader, arena, &tables};

    VkBuffer buf = host<VkBuffer>(1);
    REQUIRE(dec.handle(buf, VK_OBJECT_TYPE_BUFFER) == DecodeResult::Ok);
    CHECK(buf == VK_NULL_HANDLE);
    REQUIRE(dec.handle(buf, VK_OBJECT_TYPE_BUFFER) == DecodeResult::Ok);
    CHECK(handle_to_u64(buf) == 0xabc0);
    CHECK(dec.handle(buf, VK_OBJECT_TYPE_BUFFER) == DecodeResult::Fatal);
    CHECK(fatal.reason() == "object id 0x20 is a VkImage, not a VkBuffer");
}
