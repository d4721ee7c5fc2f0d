#pragma once
// The listening side of venus-vtest: accepts vtest clients on a unix stream socket and serves each
// in a thread of its own with its own Session (one context, one worker). Sessions never share
// state: a client that misbehaves ends only its own session.
#include "session.h"

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace vn::vtest {

// Binds a listening AF_UNIX stream socket at path, replacing a stale socket file but never a live
// server's socket or a file that is not a socket. Logs and returns an invalid fd on failure.
UniqueFd listen_stream(const std::string& path);

class VtestServer {
  public:
    static constexpr std::size_t kMaxClients = 64;

    VtestServer(UniqueFd listener, ContextFactory factory);
    ~VtestServer();
    VtestServer(const VtestServer&) = delete;
    VtestServer& operator=(const VtestServer&) = delete;

    // Accepts and serves clients until SIGINT or SIGTERM. Returns the process exit status.
    int run();

  private:
    struct Client {
        std::unique_ptr<Session> session;
        std::thread thread;
        std::atomic<bool> done{false};
    };

    void accept_one();
    void reap(bool all);

    UniqueFd m_listener;
    UniqueFd m_reaper; // eventfd: a session thread finished
    ContextFactory m_factory;
    std::list<Client> m_clients;
    std::uint32_t m_next_ctx_id = 1;
};

} // namespace vn::vtest
