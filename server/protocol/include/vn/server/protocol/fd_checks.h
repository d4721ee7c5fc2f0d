#pragma once
// Checks on fds received from a peer we do not trust. Shared by the
// worker (which distrusts the VMM) and the proxy (which distrusts the worker).
#include "vn/os/mapping.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <utility>

namespace vn::server::protocol {

// Anonymous-inode fds (eventfd, dma-buf, signalfd...) are only told apart by their /proc link.
inline bool fd_link_is(int fd, std::string_view expected) {
    std::array<char, 64> path{};
    std::snprintf(path.data(), path.size(), "/proc/self/fd/%d", fd);
    std::array<char, 128> target{};
    const ssize_t n = ::readlink(path.data(), target.data(), target.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= target.size())
        return false;
    return std::string_view(target.data(), static_cast<std::size_t>(n)) == expected;
}

inline bool is_eventfd(int fd) {
    return fd_link_is(fd, "anon_inode:[eventfd]");
}

inline bool is_dmabuf(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0)
        return false;
    // DMA_BUF_MAGIC; older headers may not define it.
    return static_cast<unsigned long>(fs.f_type) == 0x444d4142ul;
}

// Size of a regular file (memfd, shm), or nullopt for anything else.
inline std::optional<std::uint64_t> regular_file_size(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        return std::nullopt;
    return static_cast<std::uint64_t>(st.st_size);
}

// dma-bufs report their size only through lseek.
inline std::optional<std::uint64_t> seek_size(int fd) {
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0)
        return std::nullopt;
    ::lseek(fd, 0, SEEK_SET);
    return static_cast<std::uint64_t>(end);
}

// F_GET_SEALS, or -1 when the fd does not support sealing (not a memfd).
inline int file_seals(int fd) {
    return ::fcntl(fd, F_GET_SEALS);
}

} // namespace vn::server::protocol
