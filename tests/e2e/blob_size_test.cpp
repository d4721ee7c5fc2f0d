// Host-visible memory of any size maps as a blob of exactly that size (the worker rounds its memfd
// up to whole pages and the driver's import unit; the proxy takes an fd larger than the blob), and
// a second export of one memory is refused for that request alone. Both ended contexts in the
// Vulkan CTS before (odd sizes: api.image_clearing, memory.mapping; a double export lost the
// context).
#include "backends.h"
#include "vn/client/guest.h"
#include "vn/scenarios/device_setup.h"

#include <algorithm>
#include <cstring>

using namespace vn;
using scenarios::handle;
using scenarios::ref;

namespace {

struct Memory {
    std::uint64_t buffer = 0;
    std::uint64_t memory = 0;
    VkDeviceSize size = 0; // allocationSize
};

// A host-visible memory of `size` bytes (more only where the driver needs more for the buffer:
// NVIDIA wants 16 bytes for a 4-byte buffer) with a buffer of the largest 4-byte multiple bound
// to it (vkCmdFillBuffer writes words).
Memory allocate(client::Guest& g, const scenarios::Device& device, VkDeviceSize size) {
    Memory out{g.new_id(), g.new_id(), size};
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = size & ~VkDeviceSize{3};
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buffer = handle<VkBuffer>(out.buffer);
    gen::CreateBufferArgs cb;
    cb.device = device.ref();
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    gen::CreateBufferArgs cb_reply;
    REQUIRE(g.call(cb, cb_reply) == client::Status::Ok);
    REQUIRE(cb_reply.ret == VK_SUCCESS);

    VkBufferMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
    ri.buffer = buffer;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetBufferMemoryRequirements2Args gr;
    gr.device = device.ref();
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    gen::GetBufferMemoryRequirements2Args gr_reply;
    REQUIRE(g.call(gr, gr_reply) == client::Status::Ok);
    const VkMemoryRequirements mr = gr_reply.pMemoryRequirements->memoryRequirements;
    out.size = std::max(size, mr.size);

    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = out.size;
    ai.memoryTypeIndex = scenarios::find_memory_type(device, mr.memoryTypeBits,
                                                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                         VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    VkDeviceMemory memory = handle<VkDeviceMemory>(out.memory);
    gen::AllocateMemoryArgs am;
    am.device = device.ref();
    am.pAllocateInfo = &ai;
    am.pMemory = &memory;
    gen::AllocateMemoryArgs am_reply;
    REQUIRE(g.call(am, am_reply) == client::Status::Ok);
    REQUIRE(am_reply.ret == VK_SUCCESS);

    VkBindBufferMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    bind.buffer = buffer;
    bind.memory = memory;
    gen::BindBufferMemory2Args bm;
    bm.device = device.ref();
    bm.bindInfoCount = 1;
    bm.pBindInfos = &bind;
    gen::BindBufferMemory2Args bm_reply;
    REQUIRE(g.call(bm, bm_reply) == client::Status::Ok);
    REQUIRE(bm_reply.ret == VK_SUCCESS);
    return out;
}

void fill_and_wait(client::Guest& g, const scenarios::Device& device, std::uint64_t buffer,
                   std::uint32_t value) {
    const std::uint64_t cb = scenarios::begin_command_buffer(g, device);
    gen::CmdFillBufferArgs fill;
    fill.commandBuffer = ref<VkCommandBuffer>(cb);
    fill.dstBuffer = ref<VkBuffer>(buffer);
    fill.size = VK_WHOLE_SIZE;
    fill.data = value;
    REQUIRE(g.send(fill) == client::Status::Ok);
    scenarios::end_command_buffer(g, cb);
    const std::uint64_t cbs[] = {cb};
    scenarios::submit(g, device, cbs, 0);
    gen::DeviceWaitIdleArgs idle;
    idle.device = device.ref();
    gen::DeviceWaitIdleArgs reply;
    REQUIRE(g.call(idle, reply) == client::Status::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
}

} // namespace

TEST_CASE("host-visible memory of any size maps as a blob of exactly that size") {
    client::ProxyTransport transport(test::spawn(test::ours()));
    client::Guest g(transport);
    const auto device = scenarios::create_device(g);
    // 699072 is the size Mesa's driver asked for in dEQP-VK api.image_clearing.
    for (const VkDeviceSize asked : {VkDeviceSize{4}, VkDeviceSize{4095}, VkDeviceSize{4097},
                                     VkDeviceSize{65537}, VkDeviceSize{699072}}) {
        const Memory m = allocate(g, device, asked);
        const VkDeviceSize size = m.size;
        INFO("allocationSize " << size);
        client::MappedBlob blob;
        REQUIRE(g.map_blob(m.memory, size, blob) == client::Status::Ok);
        REQUIRE(blob.mapped());
        const auto bytes = blob.as<std::uint8_t>();
        REQUIRE(bytes.size() == size);
        // The guest writes to the last byte; the GPU then overwrites every word it has.
        std::memset(bytes.data(), 0x5a, bytes.size());
        CHECK(bytes[size - 1] == 0x5a);
        fill_and_wait(g, device, m.buffer, 0xa5a5a5a5u);
        // The buffer covers the asked size's whole words.
        const std::size_t words = static_cast<std::size_t>(asked / 4);
        std::size_t filled = 0;
        for (std::size_t i = 0; i < words * 4; ++i)
            filled += bytes[i] == 0xa5;
        CHECK(filled == words * 4);
        for (std::size_t i = words * 4; i < size; ++i)
            CHECK(bytes[i] == 0x5a); // past the buffer: still what the guest wrote
    }
    CHECK_FALSE(transport.is_lost());
    scenarios::destroy_device(g, device);
}

TEST_CASE("a second export of one memory is refused, and the context goes on") {
    client::ProxyTransport transport(test::spawn(test::ours()));
    client::Guest g(transport);
    const auto device = scenarios::create_device(g);
    const Memory m = allocate(g, device, 8192);
    client::MappedBlob first;
    REQUIRE(g.map_blob(m.memory, 8192, first) == client::Status::Ok);
    client::MappedBlob second;
    CHECK(g.map_blob(m.memory, 8192, second) != client::Status::Ok);
    CHECK_FALSE(transport.is_lost());
    // The first mapping still is the memory, and the context still runs commands.
    fill_and_wait(g, device, m.buffer, 0x01020304u);
    CHECK(first.as<std::uint32_t>()[2047] == 0x01020304u);
    CHECK_FALSE(transport.is_lost());
    scenarios::destroy_device(g, device);
}

TEST_CASE("a blob larger than its memory ends the context, and only that context") {
    auto server = test::spawn(test::ours());
    client::ProxyTransport neighbour_transport(server);
    client::Guest neighbour(neighbour_transport);
    const auto neighbour_device = scenarios::create_device(neighbour);

    client::ProxyTransport transport(server);
    client::Guest g(transport);
    const auto device = scenarios::create_device(g);
    const Memory m = allocate(g, device, 8192);
    client::MappedBlob blob;
    CHECK(g.map_blob(m.memory, 1 << 20, blob) != client::Status::Ok);
    (void)g.sync();
    CHECK(transport.is_lost());

    const Memory n = allocate(neighbour, neighbour_device, 4096);
    client::MappedBlob fine;
    CHECK(neighbour.map_blob(n.memory, 4096, fine) == client::Status::Ok);
    CHECK_FALSE(neighbour_transport.is_lost());
    scenarios::destroy_device(neighbour, neighbour_device);
}
