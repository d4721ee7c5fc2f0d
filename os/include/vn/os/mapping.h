#pragma once
// Sole owner of a shared mapping of an fd (a memfd, a shm blob): unmapped when it goes away.
#include <sys/mman.h>

#include <cstddef>
#include <optional>
#include <span>
#include <utility>

namespace vn::os {

class Mapping {
  public:
    Mapping() = default;
    // Maps `size` bytes of fd from offset 0, shared; nullopt when size is 0 or mmap fails.
    static std::optional<Mapping> map(int fd, std::size_t size, int prot = PROT_READ | PROT_WRITE) {
        if (fd < 0 || size == 0)
            return std::nullopt;
        void* addr = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED)
            return std::nullopt;
        Mapping m;
        m.m_addr = addr;
        m.m_size = size;
        return m;
    }
    ~Mapping() { reset(); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    Mapping(Mapping&& other) noexcept
        : m_addr(std::exchange(other.m_addr, nullptr)), m_size(std::exchange(other.m_size, 0)) {}
    Mapping& operator=(Mapping&& other) noexcept {
        if (this != &other) {
            reset();
            m_addr = std::exchange(other.m_addr, nullptr);
            m_size = std::exchange(other.m_size, 0);
        }
        return *this;
    }

    void* data() const { return m_addr; }
    std::size_t size() const { return m_size; }
    bool valid() const { return m_addr != nullptr; }
    // The peer writes this memory concurrently; readers that must see each value once use these.
    volatile std::byte* bytes() const { return static_cast<volatile std::byte*>(m_addr); }
    template <typename T>
    std::span<T> as() const {
        return {static_cast<T*>(m_addr), m_size / sizeof(T)};
    }

    void reset() {
        if (m_addr)
            ::munmap(m_addr, m_size);
        m_addr = nullptr;
        m_size = 0;
    }

  private:
    void* m_addr = nullptr;
    std::size_t m_size = 0;
};

} // namespace vn::os
