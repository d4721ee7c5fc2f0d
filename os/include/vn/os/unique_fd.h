#pragma once
// Sole owner of a file descriptor. Every fd in the server, the worker, the sandbox, the proxy and
// the client lives in one of these, so an early return or a thrown exception can never leak one
// into a forked worker.
#include <unistd.h>

#include <utility>

namespace vn::os {

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
    bool valid() const { return m_fd >= 0; }
    explicit operator bool() const { return valid(); }

    [[nodiscard]] int release() { return std::exchange(m_fd, -1); }

    void reset(int fd = -1) {
        const int old = std::exchange(m_fd, fd);
        // close() is not retried on EINTR: on Linux the fd is gone either way.
        if (old >= 0)
            ::close(old);
    }

  private:
    int m_fd = -1;
};

} // namespace vn::os
