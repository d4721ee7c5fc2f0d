#include "vn/client/mapping.h"

#include <sys/mman.h>

namespace vn::client {

Mapping Mapping::map(int fd, std::size_t size) {
    Mapping m;
    if (fd < 0 || size == 0)
        return m;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return m;
    m.m_data = p;
    m.m_size = size;
    return m;
}

void Mapping::reset() {
    if (m_data)
        ::munmap(m_data, m_size);
    m_data = nullptr;
    m_size = 0;
}

void MappedBlob::reset() {
    m_mapping.reset();
    m_blob.fd.reset();
    // A lost context has no resources left to destroy; the transport says so, nothing to do.
    if (m_transport && m_blob.res_id)
        (void)m_transport->destroy_resource(m_blob.res_id);
    m_transport = nullptr;
    m_blob.res_id = 0;
}

} // namespace vn::client
