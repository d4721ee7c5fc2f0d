// A guest's view of our server: the fill of a buffer through the whole stack (proxy, server,
// sandboxed worker, lavapipe), waited for with vkDeviceWaitIdle, which our renderer allows and
// virglrenderer refuses as a blocking call.
#include "backends.h"
#include "vn/client/guest.h"
#include "vn/scenarios/device_setup.h"

using namespace vn;
using scenarios::handle;
using scenarios::ref;

TEST_CASE("a guest fills a buffer on lavapipe and maps the memory as a blob") {
    client::ProxyTransport transport(test::spawn(test::ours()));
    client::Guest g(transport);
    const auto device = scenarios::create_device(g);
    constexpr VkDeviceSize size = 64 * 1024;
    auto buffer = scenarios::create_host_buffer(g, device, size, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    REQUIRE(buffer.size == size);
    auto words = buffer.mapping.as<std::uint32_t>();
    words[0] = 0x12345678; // the guest writes; the GPU overwrites below

    const std::uint64_t cb = scenarios::begin_command_buffer(g, device);
    gen::CmdFillBufferArgs fill;
    fill.commandBuffer = ref<VkCommandBuffer>(cb);
    fill.dstBuffer = ref<VkBuffer>(buffer.buffer);
    fill.size = VK_WHOLE_SIZE;
    fill.data = 0xfeedf00du;
    REQUIRE(g.send(fill) == client::Status::Ok);
    scenarios::end_command_buffer(g, cb);
    const std::uint64_t cbs[] = {cb};
    scenarios::submit(g, device, cbs, 0);
    gen::DeviceWaitIdleArgs idle;
    idle.device = device.ref();
    gen::DeviceWaitIdleArgs reply;
    REQUIRE(g.call(idle, reply) == client::Status::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);

    std::size_t good = 0;
    for (const std::uint32_t w : words)
        good += w == 0xfeedf00du;
    CHECK(good == words.size());
    scenarios::destroy_host_buffer(g, device, buffer);
    scenarios::destroy_device(g, device);
    CHECK_FALSE(transport.is_lost());
}
