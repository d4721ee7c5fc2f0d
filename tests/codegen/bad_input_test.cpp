// Every class of bad input named by the codec's contract is a fatal decode with a reason, never a
// crash, never an allocation beyond the arena cap, and never a call into the handler (the layer
// that reaches Vulkan).
#include "vn_dispatch.gen.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

using namespace vn;
using protocol::DecodeResult;

namespace {

// Ids known to this test: a stand-in for the object tables, which have their own tests.
class MapResolver : public protocol::ObjectResolver {
  public:
    explicit MapResolver(protocol::FatalState& fatal) : m_fatal(fatal) {}
    std::map<std::uint64_t, VkObjectType> objects;

    DecodeResult resolve(VkObjectType type, std::uint64_t id, std::uint64_t& host) override {
        auto it = objects.find(id);
        if (it == objects.end())
            return m_fatal.fail("unknown object id " + std::to_string(id));
        if (it->second != type)
            return m_fatal.fail("object id " + std::to_string(id) + " has another type");
        host = id + 0x1000;
        return DecodeResult::Ok;
    }

  private:
    protocol::FatalState& m_fatal;
};

// Records what reached it; replies go to a growable buffer.
class RecordingHandler : public gen::CommandHandler {
  public:
    int calls = 0;
    std::vector<std::byte> reply;
    protocol::Writer writer{reply};

    DecodeResult begin_reply(protocol::Decoder&, protocol::Writer*& out) override {
        out = &writer;
        return DecodeResult::Ok;
    }
    DecodeResult end_reply(protocol::Decoder&, protocol::Writer&) override {
        return DecodeResult::Ok;
    }
    DecodeResult unimplemented(protocol::Decoder&, gen::CommandType) override {
        ++calls;
        return DecodeResult::Ok;
    }
};

struct Run {
    protocol::FatalState fatal;
    protocol::Arena arena{1u << 20}; // 1 MiB cap: small enough to see a refused allocation
    MapResolver resolver{fatal};
    RecordingHandler handler;

    DecodeResult dispatch(const std::vector<std::byte>& stream) {
        protocol::Reader in(stream.data(), stream.size(), fatal);
        protocol::Decoder d{in, arena, &resolver};
        while (!in.empty()) {
            if (gen::dispatch_command(handler, d) != DecodeResult::Ok)
                return DecodeResult::Fatal;
            arena.reset();
        }
        return DecodeResult::Ok;
    }
};

struct Stream {
    std::vector<std::byte> bytes;
    protocol::Writer w{bytes};
};

void header(Stream& s, std::uint32_t type, std::uint32_t flags = 0) {
    s.w.u32(type);
    s.w.u32(flags);
}

// vkCmdDraw(commandBuffer, 3, 1, 0, 0) with a chosen command-buffer id.
void cmd_draw(Stream& s, std::uint64_t cb) {
    header(s, 106);
    s.w.u64(cb);
    s.w.u32(3);
    s.w.u32(1);
    s.w.u32(0);
    s.w.u32(0);
}

} // namespace

TEST_CASE("a valid stream reaches the handler once per command") {
    Run run;
    run.resolver.objects[0x77] = VK_OBJECT_TYPE_COMMAND_BUFFER;
    Stream s;
    cmd_draw(s, 0x77);
    cmd_draw(s, 0x77);
    REQUIRE(run.dispatch(s.bytes) == DecodeResult::Ok);
    CHECK(run.handler.calls == 2);
}

TEST_CASE("unknown command ids are fatal") {
    const std::uint32_t id = GENERATE(195u, 335u, 1000u, 0xffffffffu);
    Run run;
    Stream s;
    header(s, id);
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.fatal.reason().find("unknown command type") != std::string::npos);
    CHECK(run.handler.calls == 0);
}

TEST_CASE("blocked commands are fatal") {
    Run run;
    Stream s;
    header(s, 23); // vkMapMemory
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.handler.calls == 0);
}

TEST_CASE("unknown and wrong-type object ids are fatal before the handler runs") {
    Run run;
    run.resolver.objects[0x55] = VK_OBJECT_TYPE_BUFFER;
    Stream s;
    const std::uint64_t id = GENERATE(0x55ull, 0x56ull);
    cmd_draw(s, id);
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.handler.calls == 0);
    CHECK_FALSE(run.fatal.reason().empty());
}

TEST_CASE("a NULL required handle is fatal") {
    Run run;
    Stream s;
    cmd_draw(s, 0);
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.fatal.reason().find("vkCmdDraw.commandBuffer") != std::string::npos);
}

TEST_CASE("counts that overflow or exceed the stream are refused before allocating") {
    const std::uint64_t count =
        GENERATE(std::uint64_t{1} << 62, std::uint64_t{1} << 40, 4096ull, 0xffffffffffffffffull);
    Run run;
    run.resolver.objects[0x77] = VK_OBJECT_TYPE_COMMAND_BUFFER;
    run.resolver.objects[0x88] = VK_OBJECT_TYPE_PIPELINE_LAYOUT;
    Stream s;
    header(s, 132); // vkCmdPushConstants(cb, layout, stages, offset, size, pValues)
    s.w.u64(0x77);
    s.w.u64(0x88);
    s.w.u32(VK_SHADER_STAGE_VERTEX_BIT);
    s.w.u32(0);
    s.w.u32(static_cast<std::uint32_t>(count));
    s.w.u64(count);
    s.w.u32(0xdeadbeef); // far fewer bytes than claimed
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.arena.used() < 4096);
    CHECK(run.handler.calls == 0);
}

TEST_CASE("an array size that differs from its count member is fatal") {
    Run run;
    run.resolver.objects[0x77] = VK_OBJECT_TYPE_COMMAND_BUFFER;
    run.resolver.objects[0x88] = VK_OBJECT_TYPE_PIPELINE_LAYOUT;
    Stream s;
    header(s, 132);
    s.w.u64(0x77);
    s.w.u64(0x88);
    s.w.u32(VK_SHADER_STAGE_VERTEX_BIT);
    s.w.u32(0);
    s.w.u32(8);
    s.w.u64(4); // wire says 4 bytes, size says 8
    s.w.u32(0);
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.fatal.reason().find("does not match") != std::string::npos);
}

namespace {
// vkCreateBuffer with a chosen pNext chain (list of sTypes, each with its members).
void create_buffer(Stream& s, const std::vector<std::int32_t>& chain, std::uint64_t allocator = 0,
                   std::int32_t stype = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO) {
    header(s, 50);
    s.w.u64(0x2);
    s.w.u64(1);
    s.w.i32(stype);
    for (std::int32_t node : chain) {
        s.w.u64(1);
        s.w.i32(node);
    }
    s.w.u64(0);
    // Members of each node (written after the rest of the chain, innermost last).
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if (*it == VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO)
            s.w.u32(0);
        else if (*it == VK_STRUCTURE_TYPE_BUFFER_OPAQUE_CAPTURE_ADDRESS_CREATE_INFO)
            s.w.u64(0);
    }
    s.w.u32(0);
    s.w.u64(4096);
    s.w.u32(VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    s.w.u32(0);
    s.w.u32(0);
    s.w.u64(0);
    s.w.u64(allocator);
    s.w.u64(1);
    s.w.u64(0x10);
}
} // namespace

TEST_CASE("pNext chains: valid, unknown and duplicated sTypes") {
    Run run;
    run.resolver.objects[0x2] = VK_OBJECT_TYPE_DEVICE;
    SECTION("a valid chain decodes") {
        Stream s;
        create_buffer(s, {VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
                          VK_STRUCTURE_TYPE_BUFFER_OPAQUE_CAPTURE_ADDRESS_CREATE_INFO});
        CHECK(run.dispatch(s.bytes) == DecodeResult::Ok);
        CHECK(run.handler.calls == 1);
    }
    SECTION("an sType that does not extend the struct is fatal") {
        Stream s;
        create_buffer(s, {VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO});
        CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
        CHECK(run.fatal.reason().find("not a valid pNext extension") != std::string::npos);
    }
    SECTION("an unknown sType is fatal") {
        Stream s;
        create_buffer(s, {0x7ffffff0});
        CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    }
    SECTION("a duplicated sType is fatal") {
        Stream s;
        create_buffer(s, {VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
                          VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO});
        CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
        CHECK(run.fatal.reason().find("appears twice") != std::string::npos);
    }
    SECTION("a wrong top-level sType is fatal") {
        Stream s;
        create_buffer(s, {}, 0, VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO);
        CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    }
    SECTION("a non-NULL pAllocator is fatal") {
        Stream s;
        create_buffer(s, {}, 1);
        CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
        CHECK(run.fatal.reason().find("pAllocator") != std::string::npos);
    }
    CHECK(run.handler.calls <= 1);
}

TEST_CASE("strings without a terminator are fatal") {
    Run run;
    Stream s;
    header(s, 0); // vkCreateInstance
    s.w.u64(1);
    s.w.i32(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
    s.w.u64(0); // pNext
    s.w.u32(0); // flags
    s.w.u64(0); // pApplicationInfo
    s.w.u32(0); // enabledLayerCount
    s.w.u64(0);
    s.w.u32(1); // enabledExtensionCount
    s.w.u64(1); // one string
    s.w.u64(4); // 4 bytes, no NUL among them
    s.w.bytes("abcd", 4);
    s.w.u64(0); // pAllocator
    s.w.u64(1);
    s.w.u64(0x1); // pInstance id
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.fatal.reason().find("NUL") != std::string::npos);
    CHECK(run.handler.calls == 0);
}

TEST_CASE("enum values outside the enum's range are fatal") {
    Run run;
    run.resolver.objects[0x77] = VK_OBJECT_TYPE_COMMAND_BUFFER;
    run.resolver.objects[0x99] = VK_OBJECT_TYPE_PIPELINE;
    Stream s;
    header(s, 93); // vkCmdBindPipeline(cb, pipelineBindPoint, pipeline)
    s.w.u64(0x77);
    s.w.u32(0x80000001u); // VkPipelineBindPoint has no negative values
    s.w.u64(0x99);
    CHECK(run.dispatch(s.bytes) == DecodeResult::Fatal);
    CHECK(run.fatal.reason().find("enum value") != std::string::npos);
    CHECK(run.handler.calls == 0);
}
