#pragma once
// What a guest may name on a physical device: the device extensions we expose (host AND
// protocol), and the pNext structs that belong to them or to a core version the device has.
// Structs of anything else never reach the driver: a driver may act on a struct of an
// extension the guest could not have enabled, and one the protocol carries but the host lacks
// is meaningless to it.
#include "executor.h"

#include <string>
#include <vector>

namespace vn::decoder {

// Whether an extension of the protocol table may be exposed at all: the codec carries every
// command and struct it adds (and what it depends on), and the executor implements every
// command it adds. Ray tracing, for one, is not exposed until all of that holds.
bool extension_exposable(const gen::ExtensionInfo& info);

// The host's device extensions that the protocol can carry and may take from the host, each at
// the lower of the host's and the protocol's spec version. Empty when the host query fails.
const std::vector<VkExtensionProperties>& exposed_device_extensions(const InstanceState& inst,
                                                                    VkPhysicalDevice pd);
// The same, by name.
const std::vector<std::string>& exposed_device_extension_names(const InstanceState& inst,
                                                               VkPhysicalDevice pd);

// Whether binary semaphores' sync_fd payloads are emulated on a physical device: the protocol
// carries VK_KHR_external_semaphore_fd but the host cannot import a sync_fd into a binary
// semaphore (lavapipe before Mesa 23.1 lacks the extension). Mesa's Venus driver offers
// VK_KHR_synchronization2, and so Vulkan 1.3, only where it can, and on the host side it only
// ever installs an already-signalled payload and consumes a pending signal, both of which
// sync_resource.cpp can do without the driver. The extension is then exposed, and
// vkGetPhysicalDeviceExternalSemaphoreProperties answers for sync_fds itself.
bool emulates_semaphore_sync_fd(const InstanceState& inst, VkPhysicalDevice pd);
inline constexpr const char* kSemaphoreFdExtension = "VK_KHR_external_semaphore_fd";

// The API version a guest sees on a physical device under an instance: the device's (capped)
// and the instance's, whichever is lower (as virglrenderer's physical_dev->api_version).
std::uint32_t effective_api_version(const InstanceState& inst, VkPhysicalDevice pd);

// Takes the structs a guest may not use out of a pNext chain for the duration of one driver
// call, and puts them back when it goes away, so that a reply encodes the chain the guest sent.
// Output structs taken out are zeroed: the guest reads "not supported" from them.
class ExposedChain {
  public:
    ExposedChain(const void* head, std::uint32_t api_version,
                 const std::vector<std::string>& extensions, bool zero_hidden);
    ~ExposedChain();
    ExposedChain(const ExposedChain&) = delete;
    ExposedChain& operator=(const ExposedChain&) = delete;

    std::size_t hidden() const { return m_hidden; }

  private:
    VkBaseOutStructure* m_head;
    // Every node after the head with its original successor.
    std::vector<std::pair<VkBaseOutStructure*, VkBaseOutStructure*>> m_links;
    VkBaseOutStructure* m_first = nullptr;
    std::size_t m_hidden = 0;
};

std::vector<std::string> extension_names(const std::vector<VkExtensionProperties>& list);

} // namespace vn::decoder
