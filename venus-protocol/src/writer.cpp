#include "vn/protocol/writer.h"

namespace vn::protocol {

std::byte* Writer::reserve(std::size_t n) {
    if (m_vec) {
        const std::size_t old = m_vec->size();
        m_vec->resize(old + n);
        m_written += n;
        return m_vec->data() + old;
    }
    if (m_overflow || n > m_capacity - m_written) {
        m_overflow = true;
        return nullptr;
    }
    std::byte* p = m_data + m_written;
    m_written += n;
    return p;
}

void Writer::bytes(const void* src, std::size_t n) {
    const std::size_t padded = (n + 3) & ~std::size_t{3};
    std::byte* dst = reserve(padded);
    if (!dst)
        return;
    if (n)
        std::memcpy(dst, src, n);
    std::memset(dst + n, 0, padded - n);
}

} // namespace vn::protocol
