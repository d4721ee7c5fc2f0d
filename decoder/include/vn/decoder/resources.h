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

// What backs a resource: render-protocol fd types the worker accepts.
enum class ResourceKind { Shm, DmaBuf, Opaque };

struct ResourceInfo {
    ResourceKind kind = ResourceKind::Shm;
    int fd = -1; // borrowed from the provider; -1 when it keeps none
    std::uint64_t size = 0;
    ShmRegion mapping; // shm only
};

class ResourceProvider {
  public:
    virtual ~ResourceProvider() = default;
    // The mapping of a shared-memory resource of this context; nullopt when the id is unknown or
    // the resource is not shm (a dma-buf cannot back a reply stream).
    virtual std::optional<ShmRegion> shm(std::uint32_t resource_id) = 0;
    // Any resource of this context (memory imports); nullopt when the id is unknown. Providers
    // that hold shm only need not override it.
    virtual std::optional<ResourceInfo> resource(std::uint32_t resource_id) {
        const auto region = shm(resource_id);
        if (!region)
            return std::nullopt;
        return ResourceInfo{ResourceKind::Shm, -1, region->size, *region};
    }
};

} // namespace vn::decoder
