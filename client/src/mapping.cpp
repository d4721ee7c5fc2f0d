#include "vn/client/mapping.h"

namespace vn::client {

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
