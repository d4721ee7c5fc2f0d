#pragma once
// RAII for the guest's view of blob resources: an mmap of a blob fd, and a blob that is mapped
// and destroyed on the peer when it goes away.
#include "vn/client/transport.h"
#include "vn/os/mapping.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace vn::client {

using os::Mapping;

// A blob resource of one context, mapped into the guest. Destroys the resource when it goes away
// (the transport must outlive it).
class MappedBlob {
  public:
    MappedBlob() = default;
    MappedBlob(Transport& transport, Blob blob, Mapping mapping)
        : m_transport(&transport), m_blob(std::move(blob)), m_mapping(std::move(mapping)) {}
    ~MappedBlob() { reset(); }
    MappedBlob(MappedBlob&& o) noexcept
        : m_transport(std::exchange(o.m_transport, nullptr)), m_blob(std::move(o.m_blob)),
          m_mapping(std::move(o.m_mapping)) {}
    MappedBlob& operator=(MappedBlob&& o) noexcept {
        if (this != &o) {
            reset();
            m_transport = std::exchange(o.m_transport, nullptr);
            m_blob = std::move(o.m_blob);
            m_mapping = std::move(o.m_mapping);
        }
        return *this;
    }
    MappedBlob(const MappedBlob&) = delete;
    MappedBlob& operator=(const MappedBlob&) = delete;

    bool valid() const { return m_blob.res_id != 0; }
    bool mapped() const { return m_mapping.valid(); }
    std::uint32_t res_id() const { return m_blob.res_id; }
    FdType fd_type() const { return m_blob.fd_type; }
    const Blob& blob() const { return m_blob; }
    const Mapping& mapping() const { return m_mapping; }
    void* data() const { return m_mapping.data(); }
    std::size_t size() const { return m_mapping.size(); }
    template <typename T>
    std::span<T> as() const {
        return m_mapping.as<T>();
    }
    void reset();
    // Unmaps without destroying the resource, which then lives as long as the context: for a
    // resource the renderer may still be using (the current reply stream), whose destruction the
    // renderer rightly treats as fatal.
    void release_to_context() {
        m_transport = nullptr;
        reset();
    }

  private:
    Transport* m_transport = nullptr;
    Blob m_blob;
    Mapping m_mapping;
};

} // namespace vn::client
