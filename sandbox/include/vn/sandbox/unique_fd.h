#pragma once
// The sandbox's own fd owner: sandbox/ sits below server/ in the dependency graph, so it cannot use
// the server's UniqueFd.
#include <unistd.h>

#include <utility>

namespace vn::sandbox {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other)
            reset(other.release());
        return *this;
    }

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }
    [[nodiscard]] int release() { return std::exchange(m_fd, -1); }
    void reset(int fd = -1) {
        // Not retried on EINTR: on Linux the fd is gone either way.
        if (const int old = std::exchange(m_fd, fd); old >= 0)
            ::close(old);
    }

  private:
    int m_fd = -1;
};

} // namespace vn::sandbox
