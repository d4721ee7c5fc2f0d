#pragma once
// Datagram I/O with SCM_RIGHTS, shared by the server, the worker and the proxy so that both ends
// apply the same framing rules: one cmsg of at most kMaxFdsPerMessage fds, MSG_CMSG_CLOEXEC, and a
// truncated datagram or control message (MSG_TRUNC/MSG_CTRUNC) is an error that closes every fd it
// carried.
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/render_protocol.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <vector>

namespace vn::server::protocol {

enum class RecvStatus {
    Ok,
    Closed,     // orderly shutdown by the peer
    Truncated,  // datagram longer than the buffer, or fds beyond kMaxFdsPerMessage
    BadControl, // a control message that is not SCM_RIGHTS
    Error,      // errno is set
};

struct Received {
    RecvStatus status = RecvStatus::Error;
    std::size_t size = 0;
    std::vector<os::UniqueFd> fds;
};

// Receives one datagram into `buffer`. The buffer is sized one byte larger than the largest
// request by callers that want oversized datagrams detected by size rather than by MSG_TRUNC.
inline Received recv_message(int fd, std::span<std::byte> buffer, int flags = 0) {
    Received result;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);

    ssize_t n;
    do {
        n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        result.status = RecvStatus::Error;
        return result;
    }

    bool bad_control = false;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
            cmsg->cmsg_len >= CMSG_LEN(0)) {
            const std::size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const auto* data = reinterpret_cast<const unsigned char*>(CMSG_DATA(cmsg));
            for (std::size_t i = 0; i < count; ++i) {
                int received;
                std::memcpy(&received, data + i * sizeof(int), sizeof(int));
                result.fds.emplace_back(received);
            }
        } else {
            // SCM_CREDENTIALS and friends carry nothing we asked for.
            bad_control = true;
        }
    }

    result.size = static_cast<std::size_t>(n);
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        result.fds.clear();
        result.status = RecvStatus::Truncated;
    } else if (bad_control) {
        result.fds.clear();
        result.status = RecvStatus::BadControl;
    } else if (n == 0 && result.fds.empty()) {
        // A zero-length datagram is indistinguishable from EOF on SEQPACKET; no valid message is
        // empty, so treating it as EOF loses nothing.
        result.status = RecvStatus::Closed;
    } else {
        result.status = RecvStatus::Ok;
    }
    return result;
}

// Sends one datagram with optional fds. Returns false with errno set on failure.
inline bool send_message(int fd, std::span<const std::byte> data, std::span<const int> fds = {}) {
    if (fds.size() > kMaxFdsPerMessage) {
        errno = EINVAL;
        return false;
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds.empty()) {
        std::memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n;
    do {
        n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && (errno == EINTR || errno == EAGAIN));
    if (n < 0)
        return false;
    if (static_cast<std::size_t>(n) != data.size()) {
        errno = EMSGSIZE;
        return false;
    }
    return true;
}

template <typename T>
inline bool send_struct(int fd, const T& value, std::span<const int> fds = {}) {
    static_assert(std::is_trivially_copyable_v<T>);
    return send_message(fd, std::as_bytes(std::span<const T, 1>(&value, 1)), fds);
}

inline bool is_seqpacket_socket(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    int type = 0;
    socklen_t len = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || len != sizeof(type))
        return false;
    int domain = 0;
    len = sizeof(domain);
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
        return false;
    return type == SOCK_SEQPACKET;
}

} // namespace vn::server::protocol
