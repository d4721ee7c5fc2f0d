#pragma once
// Which memory types' host-visible memory a worker can hand a guest, learnt once per server.
//
// A guest may only map memory that a host allocation (the worker's memfd) can be imported into
// through VK_EXT_external_memory_host; the executor hides HOST_VISIBLE on the other types. Only a
// device can answer which types those are, so a worker used to create a throwaway VkDevice in
// every context to ask: 4 ms on lavapipe, about 90 ms on NVIDIA's driver, on the way from a new
// context to the guest's first device. The server now asks once, in a short-lived child (a
// driver that is not fork-safe is never initialized in the server itself), and every worker
// forked afterwards looks its devices up here by driver and device UUID; a device it does not
// find (hot-plugged, or a host without VkPhysicalDeviceIDProperties) is still probed in the
// worker.
#include <vulkan/vulkan_core.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace vn::decoder {

struct MappableMemoryTypes {
    std::array<std::uint8_t, VK_UUID_SIZE> driver_uuid{};
    std::array<std::uint8_t, VK_UUID_SIZE> device_uuid{};
    std::uint32_t memory_type_count = 0;
    std::uint32_t bits = 0; // types whose memory can be handed to the guest
};

// Creates an instance and, for every physical device, the throwaway device that answers. Only in
// a process that never serves a guest and may initialize the driver (the server's probe child).
std::vector<MappableMemoryTypes> probe_host_mappable_types();

// What the server learnt, for the workers it forks afterwards. Call before forking.
void remember_mappable_types(std::vector<MappableMemoryTypes> known);
std::optional<std::uint32_t> known_mappable_types(const std::uint8_t* driver_uuid,
                                                  const std::uint8_t* device_uuid,
                                                  std::uint32_t memory_type_count);

} // namespace vn::decoder
