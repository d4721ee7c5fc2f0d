#pragma once
// Device memory the guest can map. Where the host driver can import host memory
// (VK_EXT_external_memory_host), host-visible allocations are backed by a sealed memfd that we
// create and map; that memfd is what the guest maps as the blob. This works on every driver
// that imports host pointers (lavapipe, NVIDIA), unlike exporting device memory as a mappable
// dma-buf, which the Vulkan spec does not promise.
#include "vn/decoder/object_table.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace vn::decoder {

// One sealed memfd and our mapping of it, owned together.
class HostAllocation {
  public:
    static std::optional<HostAllocation> create(std::size_t size);
    ~HostAllocation();
    HostAllocation(HostAllocation&& other) noexcept;
    HostAllocation& operator=(HostAllocation&& other) noexcept;
    HostAllocation(const HostAllocation&) = delete;
    HostAllocation& operator=(const HostAllocation&) = delete;

    void* data() const { return m_data; }
    std::size_t size() const { return m_size; }
    int fd() const { return m_fd; }

  private:
    void release();
    HostAllocation(int fd, void* data, std::size_t size) : m_fd(fd), m_data(data), m_size(size) {}
    int m_fd = -1;
    void* m_data = nullptr;
    std::size_t m_size = 0;
};

class MemoryState final : public ObjectState {
  public:
    std::uint64_t allocation_size = 0;
    std::uint32_t memory_type = 0;
    std::optional<HostAllocation> host; // set when backed by our memfd
    // Non-zero when imported from a context resource (VkImportMemoryResourceInfoMESA): the
    // resource must outlive the memory, as the driver reads its mapping.
    std::uint32_t imported_resource = 0;
};

} // namespace vn::decoder
