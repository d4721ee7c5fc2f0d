// Per-context quotas on lavapipe, through the real server and its sandboxed worker: a guest that
// loops on allocations gets the Vulkan out-of-memory error of each allocation over its quota, and
// nothing worse (the context keeps working, the worker does not die); a guest that lies about a
// size gets the same. The counters an operator reads (SIGUSR1) match what the guest holds.
#include "vn/client/guest.h"
#include "vn/client/proxy_transport.h"
#include "vn/client/ring.h"
#include "vn/scenarios/device_setup.h"
#include "vn/test/server_process.h"

#include <catch2/catch.hpp>
#include <signal.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace vn;
using scenarios::handle;
using test::log_field;

namespace {

constexpr VkDeviceSize kChunk = VkDeviceSize{1} << 20;

struct QuotaServer {
    test::ServerProcess process;
    std::shared_ptr<client::ProxyServer> server;
    explicit QuotaServer(const std::vector<std::string>& args)
        : process(VN_TEST_SERVER_PATH, args),
          server(client::ProxyServer::connect(client::UniqueFd(process.take_socket()),
                                              VN_PROXY_LAYOUT_V1)) {}
    // The operator's view of context `id` right now.
    std::string stats(std::uint32_t id) {
        const std::size_t from = process.log().size();
        REQUIRE(::kill(process.pid, SIGUSR1) == 0);
        return process.wait_for_line("context " + std::to_string(id) + " stats:", 5000, from);
    }
};

VkResult allocate(client::Guest& guest, const scenarios::Device& device, std::uint64_t id,
                  VkDeviceSize size) {
    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = size;
    ai.memoryTypeIndex = 0;
    VkDeviceMemory memory = handle<VkDeviceMemory>(id);
    gen::AllocateMemoryArgs am;
    am.device = device.ref();
    am.pAllocateInfo = &ai;
    am.pMemory = &memory;
    const auto reply = guest.call(am);
    REQUIRE(reply);
    return reply->ret;
}

void free_memory(client::Guest& guest, const scenarios::Device& device, std::uint64_t id) {
    gen::FreeMemoryArgs fm;
    fm.device = device.ref();
    fm.memory = scenarios::ref<VkDeviceMemory>(id);
    REQUIRE(guest.send(fm) == client::Status::Ok);
}

// Allocates kChunk at a time until the first failure; the ids that succeeded.
std::vector<std::uint64_t>
allocate_until_refused(client::Guest& guest, const scenarios::Device& device, VkResult& refusal) {
    std::vector<std::uint64_t> held;
    for (int i = 0; i < 4096; ++i) {
        const std::uint64_t id = guest.new_id();
        refusal = allocate(guest, device, id, kChunk);
        if (refusal != VK_SUCCESS)
            break;
        held.push_back(id);
    }
    return held;
}

} // namespace

TEST_CASE("device memory quota: allocations over it get VK_ERROR_OUT_OF_DEVICE_MEMORY",
          "[quota][ours]") {
    QuotaServer s({"--context-max-device-memory=" + std::to_string(16 * kChunk)});
    client::ProxyTransport transport(s.server, "quota");
    client::Guest guest(transport);
    const auto device = scenarios::create_device(scenarios::Commands(guest));

    VkResult refusal = VK_SUCCESS;
    auto held = allocate_until_refused(guest, device, refusal);
    CHECK(held.size() == 16);
    CHECK(refusal == VK_ERROR_OUT_OF_DEVICE_MEMORY);
    // A guest that keeps asking keeps being refused, and lying about the size changes nothing.
    for (int i = 0; i < 20; ++i)
        CHECK(allocate(guest, device, guest.new_id(), kChunk) == VK_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(allocate(guest, device, guest.new_id(), VkDeviceSize{1} << 62) ==
          VK_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(allocate(guest, device, guest.new_id(), ~VkDeviceSize{0}) ==
          VK_ERROR_OUT_OF_DEVICE_MEMORY);

    std::string stats = s.stats(transport.context_id());
    INFO(stats);
    CHECK(log_field(stats, "device_mem") == std::to_string(16 * kChunk));
    CHECK(log_field(stats, "quota_refusals") == "23");
    CHECK(log_field(stats, "phase") == "serving");
    // The operator hears of the first refusal; the rest are counted, not logged.
    const std::string refusal_line = s.process.wait_for_line("device memory quota: refused");
    INFO(refusal_line);
    CHECK(s.process.count("device memory quota: refused") == 1);
    // The worker came from a spare, whose decoder was made before it had a context: the line
    // still names the context it serves.
    CHECK(refusal_line.find("context " + std::to_string(transport.context_id()) +
                            ": device memory quota") != std::string::npos);

    // Freeing makes room again: the quota counts what is held, not what was ever allocated.
    free_memory(guest, device, held.back());
    held.pop_back();
    const std::uint64_t again = guest.new_id();
    CHECK(allocate(guest, device, again, kChunk) == VK_SUCCESS);
    held.push_back(again);
    CHECK(allocate(guest, device, guest.new_id(), kChunk) == VK_ERROR_OUT_OF_DEVICE_MEMORY);
    for (const std::uint64_t id : held)
        free_memory(guest, device, id);
    REQUIRE(guest.sync() == client::Status::Ok);
    stats = s.stats(transport.context_id());
    INFO(stats);
    CHECK(log_field(stats, "device_mem") == "0");
    CHECK(log_field(stats, "host_mem") == std::to_string(guest.options().reply_size));
    scenarios::destroy_device(guest, device);
    CHECK_FALSE(transport.is_lost());
}

TEST_CASE("host memory quota: memfd-backed memory and shm blobs share it", "[quota][ours]") {
    const VkDeviceSize quota = 8 * kChunk;
    QuotaServer s({"--context-max-host-memory=" + std::to_string(quota)});
    client::ProxyTransport transport(s.server, "quota");
    client::Guest guest(transport);
    const auto device = scenarios::create_device(scenarios::Commands(guest));
    // lavapipe's memory is host-visible: the worker backs it with a memfd, which is host memory.
    VkResult refusal = VK_SUCCESS;
    const auto held = allocate_until_refused(guest, device, refusal);
    CHECK(refusal == VK_ERROR_OUT_OF_HOST_MEMORY);
    // The reply stream's shm blob (1 MiB) counts too.
    CHECK(held.size() * kChunk + guest.options().reply_size == quota);
    // A shm blob over the quota is refused, not fatal.
    client::MappedBlob blob;
    CHECK(guest.map_blob(0, kChunk, blob) == client::Status::Refused);
    free_memory(guest, device, held.back());
    REQUIRE(guest.sync() == client::Status::Ok);
    CHECK(guest.map_blob(0, kChunk, blob) == client::Status::Ok);

    const std::string stats = s.stats(transport.context_id());
    INFO(stats);
    CHECK(log_field(stats, "host_mem") == std::to_string(quota));
    CHECK(log_field(stats, "quota_refusals") == "2");
    // One line from the decoder (memory), one from the worker's resources (shm blobs).
    const std::string refusal_line = s.process.wait_for_line("host memory quota: refused");
    INFO(refusal_line);
    CHECK(s.process.count("host memory quota: refused") == 2);
    CHECK_FALSE(transport.is_lost());
}

TEST_CASE("object quota: creates over it get VK_ERROR_OUT_OF_HOST_MEMORY", "[quota][ours]") {
    QuotaServer s({"--context-max-objects=40"});
    client::ProxyTransport transport(s.server, "quota");
    client::Guest guest(transport);
    const auto device = scenarios::create_device(scenarios::Commands(guest));
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = 256;
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    int created = 0;
    VkResult result = VK_SUCCESS;
    for (int i = 0; i < 100 && result == VK_SUCCESS; ++i) {
        VkBuffer buffer = handle<VkBuffer>(guest.new_id());
        gen::CreateBufferArgs cb;
        cb.device = device.ref();
        cb.pCreateInfo = &bci;
        cb.pBuffer = &buffer;
        const auto reply = guest.call(cb);
        REQUIRE(reply);
        result = reply->ret;
        created += result == VK_SUCCESS;
    }
    CHECK(result == VK_ERROR_OUT_OF_HOST_MEMORY);
    CHECK(created > 0);
    // A generated (plain device child) create is refused the same way.
    VkSamplerCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO;
    VkSampler sampler = handle<VkSampler>(guest.new_id());
    gen::CreateSamplerArgs cs;
    cs.device = device.ref();
    cs.pCreateInfo = &sci;
    cs.pSampler = &sampler;
    const auto reply = guest.call(cs);
    REQUIRE(reply);
    CHECK(reply->ret == VK_ERROR_OUT_OF_HOST_MEMORY);
    const std::string stats = s.stats(transport.context_id());
    INFO(stats);
    CHECK(log_field(stats, "objects") == "40");
    CHECK_FALSE(transport.is_lost());
}

TEST_CASE("ring quota: a ring over it ends the context, saying why", "[quota][ours]") {
    QuotaServer s({"--context-max-rings=2"});
    auto transport = std::make_unique<client::ProxyTransport>(s.server, "quota");
    const std::uint32_t id = transport->context_id();
    {
        client::Guest guest(*transport);
        client::Ring first(guest);
        client::Ring second(guest);
        CHECK_THROWS_AS(client::Ring(guest), client::SetupError);
        CHECK(transport->is_lost());
        // The rings that were there learn it from their status.
        CHECK(first.fatal());
    }
    transport.reset();
    const std::string line = s.process.wait_for_line("context " + std::to_string(id) + " end:");
    INFO(line);
    CHECK(log_field(line, "cause") == "fatal");
    CHECK(log_field(line, "reason").find("quota of 2 rings") != std::string::npos);
}
