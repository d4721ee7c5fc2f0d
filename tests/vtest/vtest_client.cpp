#include "vtest_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace vn::vtest::client {

namespace {

template <typename E>
constexpr std::uint32_t id(E e) {
    return static_cast<std::uint32_t>(e);
}

} // namespace

bool VtestClient::connect(const std::string& path, int wait_ms) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
        return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
            m_fd = std::move(fd);
            return true;
        }
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

bool VtestClient::send_bytes(std::span<const std::byte> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n =
            ::send(m_fd.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

bool VtestClient::send_words(std::span<const std::uint32_t> words) {
    return send_bytes(std::as_bytes(words));
}

bool VtestClient::read_exact(void* data, std::size_t size) {
    auto* out = static_cast<std::byte*>(data);
    std::size_t done = 0;
    while (done < size) {
        pollfd p{m_fd.get(), POLLIN, 0};
        if (::poll(&p, 1, m_timeout_ms) <= 0)
            return false;
        const ssize_t n = ::recv(m_fd.get(), out + done, size - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<std::vector<std::uint32_t>> VtestClient::read_reply(std::uint32_t command) {
    std::uint32_t header[kHeaderWords];
    if (!read_exact(header, sizeof(header)) || header[kHeaderCommand] != command ||
        header[kHeaderLength] > (1u << 20))
        return std::nullopt;
    std::vector<std::uint32_t> payload(header[kHeaderLength]);
    if (!read_exact(payload.data(), payload.size() * 4))
        return std::nullopt;
    return payload;
}

std::optional<UniqueFd> VtestClient::receive_fd() {
    pollfd p{m_fd.get(), POLLIN, 0};
    if (::poll(&p, 1, m_timeout_ms) <= 0)
        return std::nullopt;
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(m_fd.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n != 1)
        return std::nullopt;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(int)) || (msg.msg_flags & MSG_CTRUNC))
        return std::nullopt;
    int fd;
    std::memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
    return UniqueFd(fd);
}

bool VtestClient::closed_by_server(int wait_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{m_fd.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            return false;
        std::byte sink[4096];
        const ssize_t n = ::recv(m_fd.get(), sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

bool VtestClient::create_renderer(const std::string& name) {
    const std::uint32_t header[] = {static_cast<std::uint32_t>(name.size() + 1),
                                    id(Command::CreateRenderer)};
    return send_words(header) &&
           send_bytes(std::as_bytes(std::span(name.c_str(), name.size() + 1)));
}

std::optional<bool> VtestClient::ping() {
    const std::uint32_t words[] = {
        0, id(Command::PingProtocolVersion), kBusyWaitSize, id(Command::ResourceBusyWait), 0, 0};
    if (!send_words(words))
        return std::nullopt;
    std::uint32_t header[kHeaderWords];
    if (!read_exact(header, sizeof(header)))
        return std::nullopt;
    const bool answered = header[kHeaderCommand] == id(Command::PingProtocolVersion);
    if (answered) {
        if (header[kHeaderLength] != 0 || !read_exact(header, sizeof(header)))
            return std::nullopt;
    }
    std::uint32_t busy;
    if (header[kHeaderCommand] != id(Command::ResourceBusyWait) || header[kHeaderLength] != 1 ||
        !read_exact(&busy, sizeof(busy)))
        return std::nullopt;
    return answered;
}

std::optional<std::uint32_t> VtestClient::protocol_version(std::uint32_t wanted) {
    const std::uint32_t words[] = {kProtocolVersionSize, id(Command::ProtocolVersion), wanted};
    if (!send_words(words))
        return std::nullopt;
    const auto r = read_reply(id(Command::ProtocolVersion));
    if (!r || r->size() != 1)
        return std::nullopt;
    m_version = (*r)[0];
    return m_version;
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> VtestClient::get_param(std::uint32_t param) {
    const std::uint32_t words[] = {kGetParamSize, id(Command::GetParam), param};
    if (!send_words(words))
        return std::nullopt;
    const auto r = read_reply(id(Command::GetParam));
    if (!r || r->size() != 2)
        return std::nullopt;
    return std::pair{(*r)[0], (*r)[1]};
}

std::optional<std::vector<std::uint32_t>> VtestClient::get_capset(std::uint32_t capset_id,
                                                                  std::uint32_t version) {
    const std::uint32_t words[] = {kGetCapsetSize, id(Command::GetCapset), capset_id, version};
    if (!send_words(words))
        return std::nullopt;
    auto r = read_reply(id(Command::GetCapset));
    if (!r || r->empty())
        return std::nullopt;
    if ((*r)[0] == 0)
        return r->size() == 1 ? std::optional(std::vector<std::uint32_t>{}) : std::nullopt;
    return std::vector<std::uint32_t>(r->begin() + 1, r->end());
}

bool VtestClient::context_init(std::uint32_t capset_id) {
    const std::uint32_t words[] = {kContextInitSize, id(Command::ContextInit), capset_id};
    return send_words(words);
}

bool VtestClient::handshake(const std::string& name) {
    if (!create_renderer(name))
        return false;
    const auto pinged = ping();
    if (!pinged || !*pinged)
        return false;
    const auto version = protocol_version(kProtocolVersion);
    if (!version || *version < kMinProtocolVersion)
        return false;
    const auto timelines = get_param(kParamMaxTimelineCount);
    if (!timelines || timelines->first != 1 || timelines->second == 0)
        return false;
    auto capset = get_capset(kCapsetVenus, 0);
    if (!capset || capset->empty())
        return false;
    m_capset = std::move(*capset);
    return context_init(kCapsetVenus);
}

std::optional<Blob> VtestClient::create_blob(std::uint32_t type, std::uint32_t flags,
                                             std::uint64_t size, std::uint64_t blob_id) {
    const std::uint32_t words[] = {kCreateBlobSize,
                                   id(Command::ResourceCreateBlob),
                                   type,
                                   flags,
                                   static_cast<std::uint32_t>(size),
                                   static_cast<std::uint32_t>(size >> 32),
                                   static_cast<std::uint32_t>(blob_id),
                                   static_cast<std::uint32_t>(blob_id >> 32)};
    if (!send_words(words))
        return std::nullopt;
    const auto r = read_reply(id(Command::ResourceCreateBlob));
    if (!r || r->size() != 1)
        return std::nullopt;
    auto fd = receive_fd();
    if (!fd)
        return std::nullopt;
    return Blob{(*r)[0], std::move(*fd)};
}

bool VtestClient::resource_unref(std::uint32_t res_id) {
    const std::uint32_t words[] = {kResourceUnrefSize, id(Command::ResourceUnref), res_id};
    return send_words(words);
}

std::optional<std::uint32_t> VtestClient::sync_create(std::uint64_t value) {
    const std::uint32_t words[] = {kSyncCreateSize, id(Command::SyncCreate),
                                   static_cast<std::uint32_t>(value),
                                   static_cast<std::uint32_t>(value >> 32)};
    if (!send_words(words))
        return std::nullopt;
    const auto r = read_reply(id(Command::SyncCreate));
    if (!r || r->size() != 1)
        return std::nullopt;
    return (*r)[0];
}

bool VtestClient::sync_unref(std::uint32_t sync_id) {
    const std::uint32_t words[] = {kSyncUnrefSize, id(Command::SyncUnref), sync_id};
    return send_words(words);
}

std::optional<std::uint64_t> VtestClient::sync_read(std::uint32_t sync_id) {
    const std::uint32_t words[] = {kSyncReadSize, id(Command::SyncRead), sync_id};
    if (!send_words(words))
        return std::nullopt;
    const auto r = read_reply(id(Command::SyncRead));
    if (!r || r->size() != 2)
        return std::nullopt;
    return (static_cast<std::uint64_t>((*r)[1]) << 32) | (*r)[0];
}

bool VtestClient::sync_write(std::uint32_t sync_id, std::uint64_t value) {
    const std::uint32_t words[] = {kSyncWriteSize, id(Command::SyncWrite), sync_id,
                                   static_cast<std::uint32_t>(value),
                                   static_cast<std::uint32_t>(value >> 32)};
    return send_words(words);
}

std::optional<UniqueFd> VtestClient::sync_wait(std::uint32_t flags, std::uint32_t timeout_ms,
                                               std::span<const SyncValue> syncs) {
    std::vector<std::uint32_t> words = {
        static_cast<std::uint32_t>(kSyncWaitHeaderSize + 3 * syncs.size()), id(Command::SyncWait),
        flags, timeout_ms};
    for (const auto& s : syncs) {
        words.insert(words.end(), {s.sync_id, static_cast<std::uint32_t>(s.value),
                                   static_cast<std::uint32_t>(s.value >> 32)});
    }
    if (!send_words(words))
        return std::nullopt;
    const auto r = read_reply(id(Command::SyncWait));
    if (!r || !r->empty())
        return std::nullopt;
    return receive_fd();
}

bool VtestClient::submit_cmd2(std::span<const Batch> batches) {
    const std::size_t header = 1 + kBatchWordsMesa * batches.size();
    std::size_t cs_words = 0;
    for (const auto& b : batches) {
        if (b.cmd.size() % 4 != 0)
            return false;
        cs_words += b.cmd.size() / 4;
    }
    std::vector<std::uint32_t> words = {0, id(Command::SubmitCmd2),
                                        static_cast<std::uint32_t>(batches.size())};
    std::size_t cs_offset = header;
    std::size_t sync_offset = header + cs_words;
    for (const auto& b : batches) {
        words.insert(words.end(), {kSubmitFlagRingIdx, static_cast<std::uint32_t>(cs_offset),
                                   static_cast<std::uint32_t>(b.cmd.size() / 4),
                                   static_cast<std::uint32_t>(sync_offset),
                                   static_cast<std::uint32_t>(b.syncs.size()), b.ring_idx});
        cs_offset += b.cmd.size() / 4;
        sync_offset += 3 * b.syncs.size();
    }
    for (const auto& b : batches) {
        if (b.cmd.empty())
            continue; // an empty span may have no data pointer for memcpy
        const std::size_t at = words.size();
        words.resize(at + b.cmd.size() / 4);
        std::memcpy(words.data() + at, b.cmd.data(), b.cmd.size());
    }
    for (const auto& b : batches) {
        for (const auto& s : b.syncs) {
            words.insert(words.end(), {s.sync_id, static_cast<std::uint32_t>(s.value),
                                       static_cast<std::uint32_t>(s.value >> 32)});
        }
    }
    words[0] = static_cast<std::uint32_t>(words.size() - kHeaderWords);
    return send_words(words);
}

} // namespace vn::vtest::client
