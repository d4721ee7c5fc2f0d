#pragma once
// A device with one queue, host-visible buffers the guest maps as blobs, and one-shot command
// buffers: the setup the compute and synchronization scenarios share.
#include "vn/client/mapping.h"
#include "vn/scenarios/instance_queries.h"

#include <cstdint>
#include <span>

namespace vn::scenarios {

struct DeviceOptions {
    std::uint32_t api_version = VK_API_VERSION_1_2;
    bool timeline_semaphore = true;
    // Non-zero: bind the queue to this fence timeline (VkDeviceQueueTimelineInfoMESA), as Mesa
    // does, so that fences on it retire after the queue's work.
    std::uint32_t queue_ring_idx = 1;
    VkCommandPoolCreateFlags command_pool_flags = 0;
};

struct Device {
    Instance instance;
    PhysicalDeviceInfo physical_device;
    std::uint64_t id = 0;
    std::uint64_t queue = 0;
    std::uint32_t queue_family = 0;
    std::uint32_t queue_ring_idx = 0;
    std::uint64_t command_pool = 0;

    protocol::Ref<VkDevice> ref() const { return scenarios::ref<VkDevice>(id); }
};

// Instance, first physical device, a device with one compute-capable queue, its queue, and a
// command pool.
// Through `guest`: its context path, or a ring (as Mesa's driver, and venus-bench, set up).
Device create_device(Commands guest, const DeviceOptions& options = {});
void destroy_device(client::Guest& guest, const Device& device);

// A memory type with all of `flags` allowed by `type_bits`; throws when there is none.
std::uint32_t find_memory_type(const Device& device, std::uint32_t type_bits,
                               VkMemoryPropertyFlags flags);

// A buffer bound to its own host-visible, host-coherent memory, mapped as a blob.
struct HostBuffer {
    std::uint64_t buffer = 0;
    std::uint64_t memory = 0;
    VkDeviceSize size = 0;
    client::MappedBlob mapping;
};
HostBuffer create_host_buffer(client::Guest& guest, const Device& device, VkDeviceSize size,
                              VkBufferUsageFlags usage);
void destroy_host_buffer(client::Guest& guest, const Device& device, HostBuffer& buffer);

// A primary command buffer from the device's pool, begun for one submission.
std::uint64_t begin_command_buffer(client::Guest& guest, const Device& device);
void end_command_buffer(client::Guest& guest, std::uint64_t command_buffer);
// Returns a command buffer to the device's pool (after its execution completed).
void free_command_buffer(client::Guest& guest, const Device& device, std::uint64_t command_buffer);

std::uint64_t create_fence(client::Guest& guest, const Device& device, bool signaled = false);
// Submits command buffers (may be none) on the device's queue, signalling `fence` (0: none).
void submit(client::Guest& guest, const Device& device, std::span<const std::uint64_t> commands,
            std::uint64_t fence);
// Waits as Mesa's driver does: the queue's fence timeline first (when bound), then
// vkGetFenceStatus polled (renderers refuse blocking waits). Throws on timeout.
void wait_fence(client::Guest& guest, const Device& device, std::uint64_t fence,
                int timeout_ms = 10000);
VkResult fence_status(client::Guest& guest, const Device& device, std::uint64_t fence);

} // namespace vn::scenarios
