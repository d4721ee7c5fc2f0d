#include "server.h"

#include "log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>

namespace vn::server {

using os::UniqueFd;

Server::Server(WorkerLauncher& launcher) : m_launcher(launcher) {}

Server::~Server() = default;

bool Server::init() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    // An operator's request for every context's counters (log_stats).
    sigaddset(&mask, SIGUSR1);
    // The default disposition, not an inherited SIG_IGN: with SIGCHLD ignored the kernel reaps
    // workers itself and we could not report which context was lost.
    ::signal(SIGCHLD, SIG_DFL);
    if (::pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0)
        return false;
    m_signalfd.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!m_signalfd) {
        spdlog::critical("signalfd: {}", std::strerror(errno));
        return false;
    }
    return true;
}

void Server::add_client(UniqueFd socket, std::string description) {
    m_clients.push_back(
        std::make_unique<ClientConnection>(std::move(socket), m_launcher, std::move(description)));
}

void Server::add_listener(UniqueFd socket) {
    m_listeners.push_back(std::move(socket));
}

void Server::accept_clients(int listener) {
    for (;;) {
        UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!conn) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                spdlog::warn("accept: {}", std::strerror(errno));
            return;
        }
        // Replies are sent blocking, as on a --socket-fd connection.
        const int flags = ::fcntl(conn.get(), F_GETFL);
        ::fcntl(conn.get(), F_SETFL, flags & ~O_NONBLOCK);
        std::string description = "client " + std::to_string(m_next_client++);
        ucred cred{};
        socklen_t len = sizeof(cred);
        if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            description +=
                " (pid " + std::to_string(cred.pid) + ", uid " + std::to_string(cred.uid) + ")";
        add_client(std::move(conn), std::move(description));
    }
}

void Server::reap_all() {
    m_launcher.reap_spare();
    for (auto& client : m_clients)
        client->reap_workers();
}

bool Server::drain_signals() {
    bool stop = false;
    signalfd_siginfo info;
    while (::read(m_signalfd.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
            spdlog::info("signal {}: shutting down", info.ssi_signo);
            stop = true;
        } else if (info.ssi_signo == SIGUSR1) {
            std::size_t contexts = 0;
            for (const auto& client : m_clients)
                contexts += client->context_count();
            spdlog::info("SIGUSR1: {} clients, {} contexts", m_clients.size(), contexts);
            for (const auto& client : m_clients)
                client->log_stats();
        }
    }
    // SIGCHLD coalesces, so every worker is checked, whichever signal woke us.
    reap_all();
    return !stop;
}

int Server::run() {
    std::vector<pollfd> fds;
    for (;;) {
        if (m_listeners.empty() && m_clients.empty())
            return 0;
        // Here, between requests: forking spare workers stays off CREATE_CONTEXT's path. Only an
        // empty pool is refilled at once; the rest waits until no request is pending (below), as
        // forking the server takes up to a millisecond with a preloaded driver.
        m_launcher.prepare_spare(false);
        fds.clear();
        fds.push_back({m_signalfd.get(), POLLIN, 0});
        // -1 when the launcher has nothing to poll: poll() skips negative fds.
        fds.push_back({m_launcher.event_fd(), POLLIN, 0});
        for (const auto& l : m_listeners)
            fds.push_back({l.get(), POLLIN, 0});
        for (const auto& c : m_clients)
            fds.push_back({c->fd(), POLLIN, 0});

        // Destroyed workers that have not exited are killed when their grace period ends.
        int timeout_ms = -1;
        for (const auto& c : m_clients) {
            if (const auto deadline = c->next_deadline()) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                    *deadline - std::chrono::steady_clock::now());
                const int ms = static_cast<int>(std::max<long long>(left.count(), 0));
                timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
            }
        }
        int n = ::poll(fds.data(), fds.size(), 0);
        if (n == 0) {
            m_launcher.prepare_spare(true);
            n = ::poll(fds.data(), fds.size(), timeout_ms);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            spdlog::critical("poll: {}", std::strerror(errno));
            return 1;
        }
        if (n == 0) {
            reap_all();
            continue;
        }
        if (fds[0].revents && !drain_signals())
            return 0;
        if (fds[1].revents)
            m_launcher.on_event();

        constexpr std::size_t kFirstListener = 2;
        const std::size_t listener_count = m_listeners.size();
        for (std::size_t i = 0; i < listener_count; ++i) {
            if (fds[kFirstListener + i].revents & POLLIN)
                accept_clients(fds[kFirstListener + i].fd);
        }
        // Iterate over the snapshot: accepted clients were appended after it.
        for (std::size_t i = kFirstListener + listener_count; i < fds.size(); ++i) {
            if (!fds[i].revents)
                continue;
            auto it = std::find_if(m_clients.begin(), m_clients.end(),
                                   [&](const auto& c) { return c->fd() == fds[i].fd; });
            if (it == m_clients.end())
                continue;
            bool alive = true;
            if (fds[i].revents & POLLIN)
                alive = (*it)->on_readable();
            else if (fds[i].revents & (POLLHUP | POLLERR | POLLNVAL))
                alive = false;
            if (!alive) {
                spdlog::info("{}: closed with {} contexts", (*it)->description(),
                             (*it)->context_count());
                m_clients.erase(it);
            }
        }
    }
}

} // namespace vn::server
