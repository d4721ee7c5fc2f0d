#include "worker.h"

#include "log.h"
#include "vn/os/fd_table.h"

#ifdef VN_SERVER_HAVE_DECODER
#include "vn/decoder/driver_preload.h"
#include "vn/decoder/host_memory_probe.h"
#endif

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace vn::server {

using os::UniqueFd;

std::string describe_wait_status(int code, int status) {
    switch (code) {
    case CLD_EXITED:
        return "exited with status " + std::to_string(status);
    case CLD_KILLED:
    case CLD_DUMPED:
        return std::string("killed by signal ") +
               (sigabbrev_np(status) ? sigabbrev_np(status) : "?");
    default:
        return "ended (code " + std::to_string(code) + ")";
    }
}

namespace {

// waitid(2) with the rusage the system call also fills: glibc's wrapper passes null there. The
// figure is the ended child's CPU time, exit included, which getrusage in the worker cannot see.
int wait_child(pid_t pid, siginfo_t* info, int flags, std::int64_t* cpu_us) {
    rusage usage{};
    int rc;
    while ((rc = static_cast<int>(
                ::syscall(SYS_waitid, P_PID, static_cast<id_t>(pid), info, flags, &usage))) < 0 &&
           errno == EINTR) {
    }
    if (rc == 0 && info->si_pid != 0 && cpu_us && !(flags & WNOWAIT))
        *cpu_us = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * std::int64_t{1000000} +
                  usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
    return rc;
}

} // namespace

ProcessWorker::~ProcessWorker() {
    (void)kill_and_reap();
}

bool ProcessWorker::settle(bool block) {
    if (m_settled)
        return true;
    siginfo_t info{};
    std::int64_t cpu_us = -1;
    const int rc = wait_child(m_pid, &info, WEXITED | (block ? 0 : WNOHANG), &cpu_us);
    if (rc != 0 || info.si_pid == 0)
        return false;
    m_settled = true;
    // The slot holds a pid only where the forked child handed over: the kernel wrote it during the
    // clone, before the worker ran, and the worker unmaps it before it reads a guest byte. Checked
    // all the same: it must name a child of ours.
    const pid_t handed = m_report.handed_over_pid();
    siginfo_t probe{};
    if (handed > 0 && handed != m_pid &&
        ::waitid(P_PID, static_cast<id_t>(handed), &probe, WEXITED | WNOHANG | WNOWAIT) == 0) {
        m_pid = handed;
        return true;
    }
    if (handed != 0)
        spdlog::error("worker pid {}: its jail named pid {}, which is no child of the server",
                      m_pid, handed);
    m_reaped = true;
    m_status = {info.si_code, info.si_status, cpu_us};
    return true;
}

WaitStatus ProcessWorker::kill_and_reap() {
    if (m_reaped)
        return m_status;
    // A worker that already ended keeps its own status, not our SIGKILL.
    if (auto status = try_reap())
        return *status;
    if (!m_settled) {
        // The pid cannot have been recycled: it stays ours until we reap it.
        ::kill(m_pid, SIGKILL);
        settle(true);
        if (m_reaped)
            return m_status;
    }
    ::kill(m_pid, SIGKILL);
    siginfo_t info{};
    std::int64_t cpu_us = -1;
    (void)wait_child(m_pid, &info, WEXITED, &cpu_us);
    m_reaped = true;
    m_status = {info.si_code, info.si_status, cpu_us};
    return m_status;
}

std::optional<WaitStatus> ProcessWorker::try_reap() {
    if (m_reaped)
        return std::nullopt;
    if (!settle(false))
        return std::nullopt;
    if (m_reaped)
        return m_status; // the forked child was the worker
    siginfo_t info{};
    std::int64_t cpu_us = -1;
    if (wait_child(m_pid, &info, WEXITED | WNOHANG, &cpu_us) != 0 || info.si_pid == 0)
        return std::nullopt;
    m_reaped = true;
    m_status = {info.si_code, info.si_status, cpu_us};
    return m_status;
}

ThreadWorker::ThreadWorker(os::UniqueFd socket, ContextConfig config)
    : m_wakeup(::fcntl(socket.get(), F_DUPFD_CLOEXEC, 0)) {
    config.report = m_report.get();
    m_thread =
        std::thread([this, socket = std::move(socket), config = std::move(config)]() mutable {
            ContextLoop loop(std::move(socket), std::move(config));
            m_exit_code = loop.run();
        });
}

WaitStatus ThreadWorker::kill_and_reap() {
    if (!m_joined) {
        if (m_wakeup)
            ::shutdown(m_wakeup.get(), SHUT_RDWR);
        if (m_thread.joinable())
            m_thread.join();
        m_joined = true;
    }
    return {CLD_EXITED, m_exit_code.load()};
}

ThreadWorker::~ThreadWorker() {
    (void)kill_and_reap();
}

namespace {

// What a spare receives when it becomes a context's worker. Sent by the server, which the worker
// trusts; the guest cannot reach the socket before this message was queued.
struct SpareAssignment {
    std::uint32_t ctx_id;
    std::uint32_t init_flags;
    char name[32]; // NUL-terminated
};

constexpr int kSocketFd = 3;

bool make_socket_pair(UniqueFd& client_end, UniqueFd& worker_end) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        spdlog::error("socketpair: {}", std::strerror(errno));
        return false;
    }
    client_end.reset(pair[0]);
    worker_end.reset(pair[1]);
    return true;
}

// The first steps of every forked worker, before the jail: signals, parent death, and an fd table
// of stdio plus the socket at kSocketFd (and, until its setup, what the jail holds).
// server_pidfd: the zygote's pidfd of the server, for a child made in a PID namespace of its own;
// -1 for a child of the server's own fork.
void enter_child(int socket_fd, pid_t server_pid, const JailHook& jail, int server_pidfd = -1) {
    // The server blocks SIGCHLD for its signalfd; the worker must not inherit that.
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGCHLD, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    // The operator's request for counters is the server's: `systemctl kill -s USR1` signals
    // every process of the service, and a worker (or its jail's reaper) must not die of it.
    ::signal(SIGUSR1, SIG_IGN);

    // A worker outliving its server would keep a context alive that nobody can destroy.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (server_pidfd >= 0) {
        // The server may have died before PR_SET_PDEATHSIG was armed (or before the zygote's
        // clone: the child's parent is then whoever inherited the zygote).
        pollfd server{server_pidfd, POLLIN, 0};
        if (::poll(&server, 1, 0) != 0)
            ::_exit(1);
    } else if (::getppid() != server_pid) {
        ::_exit(1);
    }

    // Leave the worker only its context socket and stdio: other clients' sockets, the listening
    // socket and sibling contexts' sockets must not be reachable from a guest-driven process.
    if (socket_fd != kSocketFd) {
        if (::dup2(socket_fd, kSocketFd) < 0)
            ::_exit(1);
    }
    ::fcntl(kSocketFd, F_SETFD, FD_CLOEXEC);
    // The jail's held fds lie above kSocketFd (Jail::held_fds()).
    if (!os::close_fds_from(kSocketFd + 1, jail.held_fds()))
        ::_exit(1);
}

void set_context_name(std::uint32_t ctx_id) {
    // to_chars, not snprintf: printf's frame reaches a stack page the fork shared, and copying
    // that page is a fault (tens of microseconds on a paravirtualised host) on every context's
    // way to its first reply. Cut to the 15 characters a thread name holds, as snprintf's was.
    char digits[10];
    const auto end = std::to_chars(digits, digits + sizeof(digits), ctx_id).ptr;
    char name[16] = "vn-ctx-";
    const auto length = std::min<std::size_t>(static_cast<std::size_t>(end - digits), 8);
    std::memcpy(name + 7, digits, length);
    name[7 + length] = '\0';
    ::prctl(PR_SET_NAME, name);
}

// Crash reporting is installed by then (before the jail, so that it reports seccomp violations).
[[noreturn]] void serve(std::unique_ptr<ContextLoop> loop, std::uint32_t ctx_id, JailHook& jail) {
    jail.started(ctx_id);
    const int code = loop->run();
    // The decoder's threads and Vulkan objects end before the process does; its memory is the
    // exit's to free. Freeing it first cost a third of a millisecond per context, much of it
    // copying the allocator's pages that the fork had shared, only for the exit to drop them.
    // No log flush either: both of the logger's sinks write each line as it comes (stderr is
    // unbuffered, syslog(3) sends at once).
    loop->shut_down();
    (void)loop.release();
    // What is left is the kernel's work: unmapping this process's memory, most of it the
    // preloaded driver's copied page tables (about as much CPU as forking it). On a busy host that
    // runs while other contexts start; at the lowest priority it waits for them instead. Only
    // this thread's priority: the driver's threads are gone by now, so this is the one that
    // tears the address space down.
    (void)::setpriority(PRIO_PROCESS, 0, 19);
    // _exit: the server's objects copied into this process must not run their destructors.
    ::_exit(code);
}

[[noreturn]] void run_forked_worker(const ContextConfig& config, int socket_fd, JailHook& jail,
                                    pid_t server_pid, WorkerReport* report, pid_t* pid_slot) {
    enter_child(socket_fd, server_pid, jail);
    set_context_name(config.ctx_id);
    // Before the jail: its seccomp violations are reported here.
    install_crash_reporting(report);
    if (!jail.setup(config.ctx_id, kSocketFd, pid_slot, 0) || !jail.narrow(config.ctx_id)) {
        spdlog::error("context {}: cannot enter the worker jail", config.ctx_id);
        ::_exit(1);
    }
    SharedReport::forget_worker_pid_slot(pid_slot);
    ContextConfig worker_config = config;
    worker_config.report = report;
    serve(std::make_unique<ContextLoop>(UniqueFd(kSocketFd), std::move(worker_config)),
          config.ctx_id, jail);
}

// birth: how the zygote made it (a default one for the server's own fork).
[[noreturn]] void run_spare(int socket_fd, JailHook& jail, pid_t server_pid,
                            const decoder::ContextQuotas& quotas, WorkerReport* report,
                            pid_t* pid_slot, const Zygote::Birth& birth = {}) {
    enter_child(socket_fd, server_pid, jail, birth.server_pidfd);
    ::prctl(PR_SET_NAME, "vn-spare");
    install_crash_reporting(report);
    if (!jail.setup(0, kSocketFd, pid_slot, birth.namespaces) || !jail.narrow(0)) {
        spdlog::error("spare worker: cannot enter the worker jail");
        ::_exit(1);
    }
    SharedReport::forget_worker_pid_slot(pid_slot);
    // While no context waits: the loader's first call, which every context's first command needs,
    // and the context's loop and decoder, whose allocations and first-touched pages (copy-on-write
    // after the fork) cost a context about a millisecond of its start on a loaded host.
    (void)decoder::guest_instance_version();
    ContextConfig config;
    config.quotas = quotas;
    config.report = report;
    auto loop = std::make_unique<ContextLoop>(UniqueFd(kSocketFd), std::move(config));
    if (report) {
        report->spare_ready.store(1, std::memory_order_release);
        (void)::syscall(SYS_futex, &report->spare_ready, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }
    SpareAssignment assignment{};
    iovec iov{&assignment, sizeof(assignment)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n;
    // recvmsg, not recv: the worker filter allows recvmsg (recv is recvfrom on some ABIs).
    while ((n = ::recvmsg(kSocketFd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n == 0)
        ::_exit(0); // retired by the server
    if (n != static_cast<ssize_t>(sizeof(assignment)) || (msg.msg_flags & MSG_TRUNC) ||
        assignment.ctx_id == 0) {
        spdlog::error("spare worker: bad assignment ({} bytes)", n);
        ::_exit(1);
    }
    loop->assign(assignment.ctx_id,
                 std::string(assignment.name, strnlen(assignment.name, sizeof(assignment.name))),
                 assignment.init_flags);
    set_context_name(assignment.ctx_id);
    serve(std::move(loop), assignment.ctx_id, jail);
}

} // namespace

std::optional<LaunchedWorker> ProcessLauncher::launch(const ContextConfig& config) {
    if (m_spares) {
        if (auto launched = launch_from_spare(config))
            return launched;
    }
    LaunchedWorker launched;
    UniqueFd worker_end;
    if (!make_socket_pair(launched.client_socket, worker_end))
        return std::nullopt;
    ContextConfig worker_config = config;
    worker_config.quotas = m_quotas;
    SharedReport report;
    const pid_t server_pid = ::getpid();
    spdlog::default_logger()->flush();
    const pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::error("context {}: fork failed: {}", config.ctx_id, std::strerror(errno));
        return std::nullopt;
    }
    if (pid == 0)
        run_forked_worker(worker_config, worker_end.get(), m_jail, server_pid, report.get(),
                          report.worker_pid_slot());
    report.keep_out_of_forks();
    spdlog::debug("context {}: worker pid {}", config.ctx_id, pid);
    launched.worker = std::make_unique<ProcessWorker>(pid, std::move(report));
    return launched;
}

std::optional<LaunchedWorker> ProcessLauncher::launch_from_spare(const ContextConfig& config) {
    // One the zygote is forking already comes sooner than a fork of our own.
    constexpr int kZygoteWaitMs = 1000;
    if (m_ready.empty() && m_requested > 0)
        (void)take_answer(kZygoteWaitMs);
    // A spare that died since the last SIGCHLD must not be handed a context.
    reap_spare();
    if (m_ready.empty())
        return std::nullopt;
    Spare spare = std::move(m_ready.front());
    m_ready.pop_front();
    SpareAssignment assignment{};
    assignment.ctx_id = config.ctx_id;
    assignment.init_flags = config.init_flags;
    std::memcpy(assignment.name, config.name.data(),
                std::min(config.name.size(), sizeof(assignment.name) - 1));
    ssize_t n;
    while ((n = ::send(spare.socket.get(), &assignment, sizeof(assignment), MSG_NOSIGNAL)) < 0 &&
           errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof(assignment))) {
        // The spare is gone (or going): its record kills and reaps it; fork directly instead.
        spdlog::warn("context {}: spare worker {} refused its assignment ({}); forking one",
                     config.ctx_id, spare.process->pid(), n < 0 ? std::strerror(errno) : "short");
        return std::nullopt;
    }
    m_spare_failures = 0;
    spdlog::debug("context {}: worker pid {} (spare)", config.ctx_id, spare.process->pid());
    return LaunchedWorker{std::move(spare.process), std::move(spare.socket)};
}

ProcessLauncher::~ProcessLauncher() = default;

void ProcessLauncher::prepare_spare(bool fill) {
    if (m_spares > 0 && !m_zygote_tried)
        start_zygote();
    // Asking the zygote costs one message, so the pool is always refilled at once; a fork of
    // our own waits for an idle moment unless no spare is left at all.
    const std::size_t want = fill || m_zygote ? m_spares : std::min(m_spares, 1u);
    while (m_ready.size() + m_requested < want && m_spare_failures < kMaxSpareFailures) {
        if (!m_zygote) {
            fork_spare();
        } else if (m_zygote->request()) {
            ++m_requested;
        } else {
            spdlog::warn("zygote (pid {}) is gone; the server forks spare workers itself",
                         m_zygote->pid());
            drop_zygote();
        }
    }
}

void ProcessLauncher::start_zygote() {
    m_zygote_tried = true;
    const pid_t server_pid = ::getpid();
    m_zygote = Zygote::start(
        [this, server_pid](const Zygote::Birth& birth, int socket_fd, WorkerReport* report,
                           pid_t* pid_slot) {
            run_spare(socket_fd, m_jail, server_pid, m_quotas, report, pid_slot, birth);
        },
        m_jail.held_fds(),
        [this] {
            if (m_prepare_zygote)
                m_prepare_zygote();
            return m_jail.become_forker();
        });
}

bool ProcessLauncher::take_answer(int timeout_ms) {
    if (!m_zygote)
        return false;
    Zygote::Answer answer = m_zygote->receive(timeout_ms);
    using Kind = Zygote::Answer::Kind;
    switch (answer.kind) {
    case Kind::None:
        return false;
    case Kind::Gone:
        drop_zygote();
        return false;
    case Kind::Failed:
        // A zygote that cannot fork (a kernel without clone3, say) is no use: the server forks
        // its spares itself from now on, and counts its own failures.
        drop_zygote();
        return false;
    case Kind::Spare:
        break;
    }
    --m_requested;
    Spare spare;
    spare.socket = std::move(answer.spare->socket);
    spare.process =
        std::make_unique<ProcessWorker>(answer.spare->pid, std::move(answer.spare->report));
    m_ready.push_back(std::move(spare));
    return true;
}

void ProcessLauncher::drop_zygote() {
    // Spares it had forked but not yet announced are closed out with its socket: they see their
    // socket hang up and exit.
    m_zygote.reset();
    m_requested = 0;
}

int ProcessLauncher::event_fd() const {
    return m_zygote ? m_zygote->fd() : -1;
}

void ProcessLauncher::on_event() {
    while (m_zygote && m_requested > 0 && take_answer(0)) {
    }
    // A hang-up with nothing asked is an answer too.
    if (m_zygote && m_requested == 0)
        (void)take_answer(0);
    // A spare can end before its answer arrived (a jail that failed; or, where the zygote could
    // not make it in its namespaces, the forked child that handed over to it, jail.h): its
    // SIGCHLD found nothing to reap then.
    reap_spare();
}

void ProcessLauncher::fork_spare() {
    Spare spare;
    UniqueFd worker_end;
    if (!make_socket_pair(spare.socket, worker_end)) {
        ++m_spare_failures;
        return;
    }
    SharedReport report;
    const pid_t server_pid = ::getpid();
    spdlog::default_logger()->flush();
    const pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::warn("spare worker: fork failed: {}", std::strerror(errno));
        ++m_spare_failures;
        return;
    }
    if (pid == 0)
        run_spare(worker_end.get(), m_jail, server_pid, m_quotas, report.get(),
                  report.worker_pid_slot());
    report.keep_out_of_forks();
    spare.process = std::make_unique<ProcessWorker>(pid, std::move(report));
    m_ready.push_back(std::move(spare));
}

void ProcessLauncher::reap_spare() {
    for (auto it = m_ready.begin(); it != m_ready.end();) {
        if (auto status = it->process->try_reap()) {
            spdlog::warn("spare worker {} {} before it got a context", it->process->pid(),
                         describe_wait_status(*status));
            it = m_ready.erase(it);
            if (++m_spare_failures == kMaxSpareFailures)
                spdlog::warn(
                    "spare workers keep dying; contexts fork their own workers from now on");
        } else {
            ++it;
        }
    }
}

std::optional<LaunchedWorker> ThreadLauncher::launch(const ContextConfig& config) {
    LaunchedWorker launched;
    UniqueFd worker_end;
    if (!make_socket_pair(launched.client_socket, worker_end))
        return std::nullopt;
    ContextConfig worker_config = config;
    worker_config.quotas = m_quotas;
    launched.worker = std::make_unique<ThreadWorker>(std::move(worker_end), worker_config);
    return launched;
}

bool preload_host_driver() {
    bool preloaded = false;
#ifdef VN_SERVER_HAVE_DECODER
    // Explicit layers are never loaded into a worker (the jail drops these variables); they must
    // not become resident in the server, and so in every worker, through this preload either.
    const char* const kLayerVariables[] = {"VK_INSTANCE_LAYERS", "VK_LOADER_LAYERS_ENABLE"};
    std::vector<std::pair<const char*, std::string>> saved;
    for (const char* name : kLayerVariables) {
        if (const char* value = std::getenv(name)) {
            saved.emplace_back(name, value);
            ::unsetenv(name);
        }
    }
    std::string error;
    if (vn::decoder::preload_host_drivers(error)) {
        spdlog::debug("host Vulkan driver preloaded; workers share its pages");
        preloaded = true;
    } else
        spdlog::warn("cannot preload the host Vulkan driver ({}); every worker loads its own",
                     error);
    for (const auto& [name, value] : saved)
        ::setenv(name, value.c_str(), 1);
#endif
    return preloaded;
}

void learn_host_memory_types() {
#ifdef VN_SERVER_HAVE_DECODER
    using vn::decoder::MappableMemoryTypes;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return;
    UniqueFd from_child(fds[0]), to_parent(fds[1]);
    spdlog::default_logger()->flush();
    const pid_t child = ::fork();
    if (child < 0)
        return;
    if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        from_child.reset();
        // As for the preload: no explicit layer in a process of the server's.
        ::unsetenv("VK_INSTANCE_LAYERS");
        ::unsetenv("VK_LOADER_LAYERS_ENABLE");
        const auto found = vn::decoder::probe_host_mappable_types();
        const std::size_t bytes = found.size() * sizeof(MappableMemoryTypes);
        std::size_t done = 0;
        while (done < bytes) {
            const ssize_t n = ::write(
                to_parent.get(), reinterpret_cast<const char*>(found.data()) + done, bytes - done);
            if (n <= 0)
                ::_exit(1);
            done += static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    to_parent.reset();
    // A driver that hangs in its set-up must not hold the server: workers then probe themselves.
    constexpr int kTimeoutMs = 20000;
    std::vector<char> bytes;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    bool complete = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{from_child.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            break;
        char buf[4096];
        const ssize_t n = ::read(from_child.get(), buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            complete = n == 0;
            break;
        }
        bytes.insert(bytes.end(), buf, buf + n);
    }
    if (!complete)
        ::kill(child, SIGKILL);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!complete || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        bytes.size() % sizeof(MappableMemoryTypes) != 0) {
        spdlog::warn("host memory probe: no answer ({}); each worker probes its devices itself",
                     !complete             ? std::string("timed out")
                     : WIFSIGNALED(status) ? describe_wait_status(CLD_KILLED, WTERMSIG(status))
                     : WEXITSTATUS(status) != 0
                         ? describe_wait_status(CLD_EXITED, WEXITSTATUS(status))
                         : std::string("a short answer"));
        return;
    }
    std::vector<MappableMemoryTypes> known(bytes.size() / sizeof(MappableMemoryTypes));
    std::memcpy(known.data(), bytes.data(), bytes.size());
    spdlog::debug("host memory probe: {} physical device(s) answered", known.size());
    vn::decoder::remember_mappable_types(std::move(known));
#endif
}

} // namespace vn::server
