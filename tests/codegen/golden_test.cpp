// Golden bytes: the worked examples of the wire format, byte for byte as Mesa's encoder writes them
// and virglrenderer's decoder reads them (shared/spec venus-wire-format.md section 9).
#include "vn_protocol.gen.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace vn;

namespace {
std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
    std::vector<std::byte> out;
    for (unsigned v : values)
        out.push_back(static_cast<std::byte>(v));
    return out;
}

// One wire field per line, as in the spec table.
// clang-format off
const std::vector<std::byte> create_buffer_request = bytes({
    0x32, 0, 0,    0, 0x01, 0, 0, 0, // command 50, GENERATE_REPLY
    0x02, 0, 0,    0, 0,    0, 0, 0, // device id 2
    0x01, 0, 0,    0, 0,    0, 0, 0, // pCreateInfo present
    0x0c, 0, 0,    0,                // sType BUFFER_CREATE_INFO
    0,    0, 0,    0, 0,    0, 0, 0, // pNext: end of chain
    0,    0, 0,    0,                // flags
    0,    0, 0x01, 0, 0,    0, 0, 0, // size 65536
    0x82, 0, 0,    0,                // usage
    0,    0, 0,    0,                // sharingMode
    0x01, 0, 0,    0,                // queueFamilyIndexCount
    0x01, 0, 0,    0, 0,    0, 0, 0, // array size 1
    0,    0, 0,    0,                // index 0
    0,    0, 0,    0, 0,    0, 0, 0, // pAllocator NULL
    0x01, 0, 0,    0, 0,    0, 0, 0, // pBuffer present
    0x10, 0, 0,    0, 0,    0, 0, 0, // buffer id 0x10
});

const std::vector<std::byte> create_buffer_reply = bytes({
    0x32, 0, 0, 0, 0, 0, 0, 0, // command 50, VK_SUCCESS
    0x01, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0,
});
// clang-format on
} // namespace

TEST_CASE("vkCreateBuffer request encodes to the spec's 96 bytes") {
    const uint32_t family = 0;
    VkBufferCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    info.size = 65536;
    info.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_VERTEX_BUFFER_BIT;
    info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    info.queueFamilyIndexCount = 1;
    info.pQueueFamilyIndices = &family;
    VkBuffer buffer = protocol::handle_from_u64<VkBuffer>(0x10);

    gen::CreateBufferArgs args;
    args.device.id = 2;
    args.pCreateInfo = &info;
    args.pBuffer = &buffer;

    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, args);
    REQUIRE(out.size() == 96);
    CHECK(out == create_buffer_request);
}

TEST_CASE("vkCreateBuffer request decodes to the spec's values") {
    protocol::FatalState fatal;
    protocol::Reader in(create_buffer_request.data(), create_buffer_request.size(), fatal);
    protocol::Arena arena;
    protocol::Decoder d{in, arena};
    uint32_t type = 0, flags = 0;
    REQUIRE(in.u32(type) == protocol::DecodeResult::Ok);
    REQUIRE(in.u32(flags) == protocol::DecodeResult::Ok);
    CHECK(type == 50);
    CHECK(flags == 1);
    gen::CreateBufferArgs a;
    REQUIRE(gen::decode_args(d, a) == protocol::DecodeResult::Ok);
    CHECK(in.empty());
    CHECK(a.device.id == 2);
    REQUIRE(a.pCreateInfo);
    CHECK(a.pCreateInfo->size == 65536);
    CHECK(a.pCreateInfo->usage == 0x82);
    CHECK(a.pCreateInfo->queueFamilyIndexCount == 1);
    REQUIRE(a.pCreateInfo->pQueueFamilyIndices);
    CHECK(a.pCreateInfo->pQueueFamilyIndices[0] == 0);
    CHECK(a.pAllocator == nullptr);
    REQUIRE(a.pBuffer);
    CHECK(protocol::handle_to_u64(*a.pBuffer) == 0x10);
}

TEST_CASE("vkCreateBuffer reply encodes to the spec's 24 bytes and decodes back") {
    VkBuffer buffer = protocol::handle_from_u64<VkBuffer>(0x10);
    gen::CreateBufferArgs args;
    args.pBuffer = &buffer;
    args.ret = VK_SUCCESS;
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_reply(w, args);
    CHECK(out == create_buffer_reply);

    protocol::FatalState fatal;
    protocol::Reader in(out.data(), out.size(), fatal);
    protocol::Arena arena;
    protocol::Decoder d{in, arena};
    gen::CreateBufferArgs back;
    REQUIRE(gen::decode_reply(d, back) == protocol::DecodeResult::Ok);
    CHECK(back.ret == VK_SUCCESS);
    REQUIRE(back.pBuffer);
    CHECK(protocol::handle_to_u64(*back.pBuffer) == 0x10);
}

TEST_CASE("capset facts come from the protocol description") {
    CHECK(gen::wire_format_version == 1);
    CHECK(gen::extension_spec_version("VK_KHR_synchronization2") >= 1);
    CHECK(gen::extension_spec_version("VK_MESA_not_an_extension") == 0);
    CHECK(std::strcmp(gen::command_name(178), "vkSetReplyCommandStreamMESA") == 0);
    CHECK(gen::command_name(195) == nullptr);
    CHECK(static_cast<uint32_t>(gen::CommandType::CreateRingMESA) == 188);
    CHECK(VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA == 1000384000);
}
