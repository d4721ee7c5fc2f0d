#include "vtest_server.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vn::vtest {

UniqueFd listen_stream(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
        spdlog::critical("socket path '{}' is empty or too long", path);
        return {};
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        spdlog::critical("socket: {}", std::strerror(errno));
        return {};
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            spdlog::critical("{} exists and is not a socket", path);
            return {};
        }
        UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
            spdlog::critical("a vtest server is already listening on {}", path);
            return {};
        }
        ::unlink(path.c_str());
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd.get(), 16) != 0) {
        spdlog::critical("cannot listen on {}: {}", path, std::strerror(errno));
        return {};
    }
    return fd;
}

VtestServer::VtestServer(UniqueFd listener, ContextFactory factory)
    : m_listener(std::move(listener)), m_reaper(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      m_factory(std::move(factory)) {}

VtestServer::~VtestServer() {
    for (auto& c : m_clients)
        c.session->stop();
    reap(true);
}

void VtestServer::accept_one() {
    UniqueFd fd(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) {
        if (errno != EINTR && errno != EAGAIN)
            spdlog::warn("accept: {}", std::strerror(errno));
        return;
    }
    if (m_clients.size() >= kMaxClients) {
        spdlog::warn("refusing a client: {} clients are connected already", kMaxClients);
        return;
    }
    const std::uint32_t ctx_id = m_next_ctx_id++;
    if (m_next_ctx_id == 0)
        m_next_ctx_id = 1;
    auto& client = m_clients.emplace_back();
    client.session = std::make_unique<Session>(std::move(fd), ctx_id, m_factory);
    client.thread = std::thread([&client, reaper = m_reaper.get()] {
        (void)client.session->run();
        client.done = true;
        const std::uint64_t one = 1;
        (void)!::write(reaper, &one, sizeof(one));
    });
}

void VtestServer::reap(bool all) {
    std::uint64_t count;
    (void)!::read(m_reaper.get(), &count, sizeof(count));
    for (auto it = m_clients.begin(); it != m_clients.end();) {
        if (all || it->done) {
            it->thread.join();
            // Destroying the session destroys its context and closes every fd it held.
            it = m_clients.erase(it);
        } else {
            ++it;
        }
    }
}

int VtestServer::run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    UniqueFd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC));
    if (!sigfd) {
        spdlog::critical("signalfd: {}", std::strerror(errno));
        return 1;
    }
    for (;;) {
        pollfd fds[3] = {
            {m_listener.get(), POLLIN, 0}, {m_reaper.get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            spdlog::critical("poll: {}", std::strerror(errno));
            return 1;
        }
        if (fds[2].revents) {
            signalfd_siginfo info{};
            (void)!::read(sigfd.get(), &info, sizeof(info));
            spdlog::info("signal {}: stopping {} clients", info.ssi_signo, m_clients.size());
            for (auto& c : m_clients)
                c.session->stop();
            reap(true);
            return 0;
        }
        if (fds[1].revents)
            reap(false);
        if (fds[0].revents)
            accept_one();
    }
}

} // namespace vn::vtest
