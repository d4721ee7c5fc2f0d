#pragma once
// The decoder's view of a context's resources (render-protocol CREATE_RESOURCE / IMPORT_RESOURCE,
// vtest blobs). The worker owns them; the decoder only asks for the shared memory behind an id,
// because reply streams, executed command streams and rings live in guest-visible shm.
#include <cstddef>
#include <cstdint>
#include <optional>

namespace vn::decoder {

struct ShmRegion {
    std::byte* data = nullptr;
    std::size_t size = 0;
};

class ResourceProvider {
  public:
    virtual ~ResourceProvider() = default;
    // The mapping of a shared-memory resource of this context; nullopt when the id is unknown or
    // the resource is not shm (a dma-buf cannot back a reply stream).
    virtual std::optional<ShmRegion> shm(std::uint32_t resource_id) = 0;
};

} // namespace vn::decoder
