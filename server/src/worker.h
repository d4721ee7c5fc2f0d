#pragma once
// One worker per context. A WorkerLauncher turns a context socket into a running worker; the
// process launcher forks (and is where the sandbox's JailHook applies), the thread launcher exists
// for debugging. A Worker's destructor stops and reaps it, so dropping a record can never leave a
// zombie or a stray process.
#include "context_loop.h"
#include "vn/os/unique_fd.h"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace vn::server {

// The sandbox seam, applied in the forked worker in two stages (vn::sandbox::Jail's setup() and
// narrow()): setup runs after every inherited fd but the context socket and stderr was closed;
// narrow runs right before the first request is read, after which the worker only needs what its
// seccomp filter allows. Either returning false makes the worker exit without serving.
class JailHook {
  public:
    virtual ~JailHook() = default;
    virtual bool setup(std::uint32_t ctx_id, int socket_fd) = 0;
    virtual bool narrow(std::uint32_t ctx_id) = 0;
};

class NoJail final : public JailHook {
  public:
    bool setup(std::uint32_t, int) override { return true; }
    bool narrow(std::uint32_t) override { return true; }
};

class Worker {
  public:
    virtual ~Worker() = default;
    // Process id, or 0 for a thread worker.
    virtual pid_t pid() const = 0;
    // Non-blocking: reaps the worker if it exited and returns its waitid status text.
    virtual std::optional<std::string> try_reap() = 0;
};

class ProcessWorker final : public Worker {
  public:
    explicit ProcessWorker(pid_t pid) : m_pid(pid) {}
    ~ProcessWorker() override;
    ProcessWorker(const ProcessWorker&) = delete;
    ProcessWorker& operator=(const ProcessWorker&) = delete;
    pid_t pid() const override { return m_pid; }
    std::optional<std::string> try_reap() override;

  private:
    pid_t m_pid;
    bool m_reaped = false;
};

class ThreadWorker final : public Worker {
  public:
    ThreadWorker(os::UniqueFd socket, ContextConfig config);
    ~ThreadWorker() override;
    pid_t pid() const override { return 0; }
    std::optional<std::string> try_reap() override { return std::nullopt; }

  private:
    // A second handle on the worker's socket: shutdown() on it wakes the blocked recvmsg.
    os::UniqueFd m_wakeup;
    std::thread m_thread;
};

class WorkerLauncher {
  public:
    virtual ~WorkerLauncher() = default;
    virtual std::unique_ptr<Worker> launch(const ContextConfig& config, os::UniqueFd socket) = 0;
};

class ProcessLauncher final : public WorkerLauncher {
  public:
    explicit ProcessLauncher(JailHook& jail) : m_jail(jail) {}
    std::unique_ptr<Worker> launch(const ContextConfig& config, os::UniqueFd socket) override;

  private:
    JailHook& m_jail;
};

class ThreadLauncher final : public WorkerLauncher {
  public:
    std::unique_ptr<Worker> launch(const ContextConfig& config, os::UniqueFd socket) override;
};

std::string describe_wait_status(int code, int status);

} // namespace vn::server
