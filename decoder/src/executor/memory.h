#pragma once
// Device memory the guest can map. Where the host driver can import host memory
// (VK_EXT_external_memory_host), host-visible allocations are backed by a sealed memfd that we
// create and map; that memfd is what the guest maps as the blob. This works on every driver
// that imports host pointers (lavapipe, NVIDIA), unlike exporting device memory as a mappable
// dma-buf, which the Vulkan spec does not promise.
#include "vn/decoder/context.h"
#include "vn/decoder/object_table.h"
#include "vn/os/mapping.h"
#include "vn/os/unique_fd.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace vn::decoder {

// One sealed memfd and our mapping of it, owned together (the mapping goes first).
class HostAllocation {
  public:
    static std::optional<HostAllocation> create(std::size_t size);

    void* data() const { return m_mapping.data(); }
    std::size_t size() const { return m_mapping.size(); }
    int fd() const { return m_fd.get(); }

  private:
    HostAllocation(os::UniqueFd fd, os::Mapping mapping)
        : m_fd(std::move(fd)), m_mapping(std::move(mapping)) {}
    os::UniqueFd m_fd;
    os::Mapping m_mapping;
};

class MemoryState final : public ObjectState {
  public:
    std::uint64_t allocation_size = 0;
    std::uint32_t memory_type = 0;
    std::optional<HostAllocation> host; // set when backed by our memfd
    bool exported = false;              // handed out as a blob (once only)
    // Non-zero when imported from a context resource (VkImportMemoryResourceInfoMESA): the
    // resource must outlive the memory, as the driver reads its mapping.
    std::uint32_t imported_resource = 0;
    // What this memory counts against the context's quotas, given back when it is freed (by
    // vkFreeMemory, its device's destruction or the context's end alike).
    QuotaCharge device_charge;
    QuotaCharge host_charge;
};

} // namespace vn::decoder
