#pragma once
// One worker per context. A WorkerLauncher turns a context into a running worker and the socket the
// VMM talks to it on; the process launcher forks (and is where the sandbox's JailHook applies), the
// thread launcher exists for debugging. A Worker's destructor stops and reaps it, so dropping a
// record can never leave a zombie or a stray process.
#include "context_loop.h"
#include "vn/os/unique_fd.h"
#include "worker_report.h"
#include "zygote.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vn::server {

// The sandbox seam, applied in the forked worker in two stages (vn::sandbox::Jail's setup() and
// narrow()): setup runs after every inherited fd but the context socket and stderr was closed;
// narrow runs right before the first request is read, after which the worker only needs what its
// seccomp filter allows. Either returning false makes the worker exit without serving.
class JailHook {
  public:
    virtual ~JailHook() = default;
    // worker_pid: the launcher's slot for the jail's hand-over (SharedReport::worker_pid_slot);
    // after one, setup() returns in a new process, the launcher's child as well.
    // born_in: the namespaces the launcher's clone made the process in (become_forker()).
    virtual bool setup(std::uint32_t ctx_id, int socket_fd, pid_t* worker_pid,
                       std::uint64_t born_in) = 0;
    virtual bool narrow(std::uint32_t ctx_id) = 0;
    // Runs once the worker knows its context, right before it serves. A worker that started as a
    // spare was set up and narrowed before it had a context (ctx_id 0 there).
    virtual void started(std::uint32_t) {}
    // Fds the jail needs in the child until setup(); the launcher's fd cleanup keeps them.
    virtual std::vector<int> held_fds() const { return {}; }
    // In the zygote, once (vn::sandbox::Jail::become_forker): the namespaces to make its
    // children in.
    virtual std::uint64_t become_forker() { return 0; }
};

class NoJail final : public JailHook {
  public:
    bool setup(std::uint32_t, int, pid_t*, std::uint64_t) override { return true; }
    bool narrow(std::uint32_t) override { return true; }
};

// How a worker ended, as waitid(2) tells it (si_code, si_status), and the CPU time it used
// (user + system, its own and its reaped children's; -1 where unknown, as for a thread worker).
struct WaitStatus {
    int code = CLD_EXITED;
    int status = 0;
    std::int64_t cpu_us = -1;
    bool exited() const { return code == CLD_EXITED; }
    bool signaled() const { return code == CLD_KILLED || code == CLD_DUMPED; }
};

class Worker {
  public:
    virtual ~Worker() = default;
    // Process id, or 0 for a thread worker.
    virtual pid_t pid() const = 0;
    // Non-blocking: reaps the worker if it exited.
    virtual std::optional<WaitStatus> try_reap() = 0;
    // Stops the worker (SIGKILL for a process) and reaps it; its status, or the one it had
    // already ended with.
    virtual WaitStatus kill_and_reap() = 0;
    // What the worker reported about itself; null when it has no report page.
    virtual const WorkerReport* report() const = 0;
};

// A forked worker. The forked child may hand the context over to a process of its own in the
// jail's PID namespace (vn::sandbox::Jail) and exit; that process, the server's child too, is then
// the worker, and its pid comes from the report's slot.
class ProcessWorker final : public Worker {
  public:
    ProcessWorker(pid_t pid, SharedReport report) : m_pid(pid), m_report(std::move(report)) {}
    ~ProcessWorker() override;
    ProcessWorker(const ProcessWorker&) = delete;
    ProcessWorker& operator=(const ProcessWorker&) = delete;
    pid_t pid() const override { return m_pid; }
    std::optional<WaitStatus> try_reap() override;
    WaitStatus kill_and_reap() override;
    const WorkerReport* report() const override { return m_report.get(); }

  private:
    // Follows a hand-over once the forked child has ended; false while it still runs (with block,
    // waits for it). Sets m_reaped where the forked child was the worker.
    bool settle(bool block);

    pid_t m_pid;
    bool m_settled = false;
    bool m_reaped = false;
    WaitStatus m_status;
    SharedReport m_report;
};

class ThreadWorker final : public Worker {
  public:
    ThreadWorker(os::UniqueFd socket, ContextConfig config);
    ~ThreadWorker() override;
    pid_t pid() const override { return 0; }
    std::optional<WaitStatus> try_reap() override { return std::nullopt; }
    WaitStatus kill_and_reap() override;
    const WorkerReport* report() const override { return m_report.get(); }

  private:
    std::unique_ptr<WorkerReport> m_report = std::make_unique<WorkerReport>();
    // A second handle on the worker's socket: shutdown() on it wakes the blocked recvmsg.
    os::UniqueFd m_wakeup;
    std::thread m_thread;
    std::atomic<int> m_exit_code{0};
    bool m_joined = false;
};

struct LaunchedWorker {
    std::unique_ptr<Worker> worker;
    os::UniqueFd client_socket; // the VMM's end of the context socket
};

class WorkerLauncher {
  public:
    virtual ~WorkerLauncher() = default;
    // nullopt when no worker could be started (already logged).
    virtual std::optional<LaunchedWorker> launch(const ContextConfig& config) = 0;
    // The server calls these from its loop, outside any request: work that must stay off the
    // CREATE_CONTEXT critical path, and reaping what the launcher itself owns.
    // fill: fork until the pool is full; otherwise only when no spare is left at all.
    virtual void prepare_spare(bool fill) { (void)fill; }
    virtual void reap_spare() {}
    // An fd the server polls for the launcher (-1: none), and what to do when it is readable.
    virtual int event_fd() const { return -1; }
    virtual void on_event() {}
};

// With spares on, a few workers are always forked and jailed ahead of time (namespaces, rlimits,
// capabilities, seccomp: everything but its context), blocked on their sockets for an assignment
// (context id, flags, name). CREATE_CONTEXT then costs one small message instead of two forks and
// the namespace set-up; a replacement is forked after the reply went out. More than one, so that
// contexts created back to back do not wait for the replacement's jail. The spare's socket
// becomes the context socket, so the worker's fd table is the same as a directly forked one's.
class ProcessLauncher final : public WorkerLauncher {
  public:
    ProcessLauncher(JailHook& jail, unsigned spares, decoder::ContextQuotas quotas = {})
        : m_jail(jail), m_spares(spares), m_quotas(quotas) {}
    ~ProcessLauncher() override;
    // What the zygote does once, before it forks its first spare, to make its forks cheaper
    // (main.cpp: the code every worker runs, startup_code.h).
    void set_zygote_preparation(std::function<void()> prepare) {
        m_prepare_zygote = std::move(prepare);
    }
    std::optional<LaunchedWorker> launch(const ContextConfig& config) override;
    void prepare_spare(bool fill) override;
    void reap_spare() override;
    // The zygote's answers (zygote.h).
    int event_fd() const override;
    void on_event() override;

  private:
    struct Spare {
        std::unique_ptr<ProcessWorker> process;
        os::UniqueFd socket; // the server's end until an assignment hands it to the VMM
    };
    std::optional<LaunchedWorker> launch_from_spare(const ContextConfig& config);
    void fork_spare();
    void start_zygote();
    // Takes one answer of the zygote, waiting at most timeout_ms; false when none came.
    bool take_answer(int timeout_ms);
    void drop_zygote();

    JailHook& m_jail;
    unsigned m_spares;               // how many to keep ready
    decoder::ContextQuotas m_quotas; // every worker's, spares' included
    std::deque<Spare> m_ready;       // oldest first: the one most likely done entering its jail
    // Spares that died without an assignment in a row: a jail that cannot be entered must not
    // turn into a fork loop. Reset by every spare that gets a context.
    static constexpr unsigned kMaxSpareFailures = 3;
    unsigned m_spare_failures = 0;
    // Spares are forked by the zygote where it runs, else by the server itself.
    std::unique_ptr<Zygote> m_zygote;
    bool m_zygote_tried = false;
    std::function<void()> m_prepare_zygote;
    unsigned m_requested = 0; // asked of the zygote, not answered yet
};

class ThreadLauncher final : public WorkerLauncher {
  public:
    explicit ThreadLauncher(decoder::ContextQuotas quotas = {}) : m_quotas(quotas) {}
    std::optional<LaunchedWorker> launch(const ContextConfig& config) override;

  private:
    decoder::ContextQuotas m_quotas;
};

std::string describe_wait_status(int code, int status);
inline std::string describe_wait_status(const WaitStatus& s) {
    return describe_wait_status(s.code, s.status);
}

// Loads the host Vulkan driver into this process so that workers forked later share its pages
// (vn/decoder/driver_preload.h says why that is safe). Call it in the server before any client
// connects and before it starts threads: it edits the environment for the duration.
// True when it was loaded.
bool preload_host_driver();
// Asks the host once, in a short-lived child, which memory types' host-visible memory workers can
// hand guests (vn/decoder/host_memory_probe.h), so that no worker creates a throwaway device per
// context to find out. Before any worker is forked; without an answer, workers probe themselves.
void learn_host_memory_types();

} // namespace vn::server
