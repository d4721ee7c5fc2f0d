#pragma once
// Instance-level scenarios: what a guest driver asks before it creates a device. Each returns
// what the renderer answered, already checked for consistency (counts, ids), so tests can compare
// the answers of two renderers field by field.
#include "vn/scenarios/scenario_support.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vn::scenarios {

struct Instance {
    std::uint64_t id = 0;
    std::uint32_t api_version = 0; // what the application asked for
};

struct PhysicalDeviceInfo {
    std::uint64_t id = 0;
    VkPhysicalDeviceProperties properties{};
    VkPhysicalDeviceVulkan11Properties properties11{};
    VkPhysicalDeviceVulkan12Properties properties12{};
    VkPhysicalDeviceFeatures features{};
    VkPhysicalDeviceVulkan11Features features11{};
    VkPhysicalDeviceVulkan12Features features12{};
    std::vector<VkExtensionProperties> extensions;
    std::vector<VkQueueFamilyProperties> queue_families;
    VkPhysicalDeviceMemoryProperties memory{};

    std::string name() const { return properties.deviceName; }
    bool has_extension(const char* name) const;
};

std::uint32_t enumerate_instance_version(client::Guest& guest);
std::vector<VkExtensionProperties> enumerate_instance_extensions(client::Guest& guest);
// vkCreateInstance with no layers and no extensions (virglrenderer 0.10.x refuses any).
Instance create_instance(Commands guest, std::uint32_t api_version = VK_API_VERSION_1_2);
void destroy_instance(client::Guest& guest, const Instance& instance);
// Count, then the ids: the renderer must answer with exactly the ids the guest chose.
std::vector<std::uint64_t> enumerate_physical_devices(Commands guest, const Instance& instance);
// Properties and features with Vulkan 1.1 and 1.2 structs chained, extensions, queue families
// and memory properties.
PhysicalDeviceInfo query_physical_device(Commands guest, std::uint64_t physical_device);

} // namespace vn::scenarios
