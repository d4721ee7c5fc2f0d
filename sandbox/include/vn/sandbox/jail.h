#pragma once
// The worker jail: one template, built once in the server, applied to each forked worker in two
// stages.
//
//   Jail jail(config);           // server, before any fork: filters loaded, nothing applied
//   ... fork() ...
//   jail.setup();                // child, stage 1: no_new_privs, fds, environment, rlimits,
//                                //   namespaces, capabilities. May fork once more (see below).
//   ... open what must be open before narrowing ...
//   jail.narrow();               // stage 2: the seccomp filter; irreversible.
//
// PID namespace: a process cannot move itself into a new PID namespace, and after
// unshare(CLONE_NEWPID) it may no longer create threads (clone(CLONE_THREAD) fails with EINVAL),
// which every Vulkan driver needs. So setup() unshares the PID namespace and makes a new process,
// which becomes PID 1 of the new namespace and returns as the worker. Two ways:
//
// - Handed over (setup() given a pid slot, below): the new process shares the caller's memory
//   (CLONE_VM) and its parent (CLONE_PARENT), and the caller exits at once, so the worker is the
//   launcher's own child and no page of the server's image is copied a second time. The kernel
//   writes the worker's pid into the slot, a shared page the launcher reads; the launcher's code in
//   the worker unmaps it before it serves, so a later exploit cannot rewrite it.
// - Born there (setup() given the namespaces the launcher's clone made): a launcher that forks
//   on the jail's behalf (become_forker()) makes each child with clone3 in its new namespaces, so
//   the child already is PID 1 and setup() neither unshares nor makes another process. One
//   process creation and exit per worker instead of two: on a host where those are dear (a
//   paravirtualised guest) the largest part of a jail's cost.
// - Reaper (no slot, or where the hand-over is not possible): the caller forks; the child becomes
//   PID 1 and returns as the worker; the parent stays behind as a minimal reaper (no
//   capabilities, its own tiny seccomp filter) that waits for the worker and then dies the same
//   way (same exit status, or same signal), so whoever forked it sees the worker's fate. Killing
//   the reaper kills the worker (PR_SET_PDEATHSIG).
#include "vn/os/unique_fd.h"
#include "vn/sandbox/bpf_program.h"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vn::sandbox {

enum class LogLevel { Debug, Info, Warn, Error };
using LogFunction = std::function<void(LogLevel, std::string_view)>;

enum class SeccompMode {
    Off,
    // The filter's own default action (KILL_PROCESS for ours; a user's .bpf decides for itself).
    Enforce,
    // As Enforce, plus a SIGSYS handler that logs the blocked syscall's name to stderr and makes
    // the call fail with ENOSYS. For filters compiled with DefaultAction::Trap.
    Log,
};

struct JailConfig {
    // fds that survive stage 1 besides stderr, which is kept for logging. stdin becomes /dev/null
    // and stdout a copy of stderr, so that a driver's printf can never land in a reused fd.
    std::vector<int> keep_fds;

    // Environment variables that survive: exact names, or prefixes written as "MESA_*".
    std::vector<std::string> env_allow = default_env_allowlist();

    // Namespaces (user, mount, PID, IPC, network). Where the kernel or a container refuses
    // unprivileged user namespaces the jail logs it and goes on without them, unless required.
    bool namespaces = true;
    bool require_namespaces = false;
    // Every worker of this jail joins one empty network namespace and one IPC namespace, made
    // once when the jail is constructed, instead of getting its own: making and tearing down a
    // network namespace was the costliest part of a worker's jail (about 0.45 ms of CPU each,
    // plus the kernel's teardown work), spent while other contexts start, and an IPC namespace
    // (with its mqueue mount) about 0.1 ms. Workers cannot open sockets or use System V IPC or
    // POSIX message queues (the seccomp filter refuses socket(), shmget(), msgget(), semget()
    // and mq_open()), so nothing of the shared namespaces is reachable to them; they are never
    // the host's.
    bool shared_network_namespace = true;

    // rlimits; 0 leaves the inherited value. RLIMIT_CORE is always 0 (a worker's memory holds
    // guest data) and RLIMIT_NOFILE is capped at the inherited hard limit.
    std::uint64_t rlimit_nofile = 1u << 17; // ContextLoop allows 65536 resources, each an fd
    std::uint64_t rlimit_as = 0;            // off: drivers reserve huge address ranges
    std::uint64_t rlimit_data = 0;
    std::uint64_t rlimit_nproc = 0; // per user, not per worker: see systemd TasksMax

    // Connect syslog(3) before narrowing (openlog with LOG_NDELAY): the filter refuses new sockets,
    // so glibc could not connect lazily later. The caller must closelog() before it moves or closes
    // fds, since glibc remembers the old socket's number (the jail cannot know that number).
    bool reopen_syslog = false;

    SeccompMode seccomp = SeccompMode::Enforce;
    std::optional<BpfProgram> filter; // with Enforce/Log: nullopt means default_worker_filter()

    LogFunction log; // empty: stderr

    static std::vector<std::string> default_env_allowlist();
};

struct NamespaceSupport {
    bool user = false;   // unprivileged user namespace (or root)
    bool others = false; // mount, IPC, network
    bool pid = false;
    std::string detail; // why not, for the log
};

class Jail {
  public:
    explicit Jail(JailConfig config);
    ~Jail();
    Jail(const Jail&) = delete;
    Jail& operator=(const Jail&) = delete;
    Jail(Jail&&) noexcept;
    Jail& operator=(Jail&&) noexcept;

    // Forks a throwaway child that tries the namespaces; cheap enough to run once at start-up so
    // the server logs what its workers will get.
    static NamespaceSupport probe_namespaces();

    // Stage 1, in a freshly forked, single-threaded child. On false the caller must _exit().
    // Returns only in the process that goes on as the worker (see the PID namespace note above).
    // extra_keep_fds join config().keep_fds (a worker's socket, known only after the fork).
    // worker_pid: a pid slot in memory the launcher shares (MAP_SHARED), for the hand-over above;
    // after a hand-over the launcher's child that called setup() has exited with status 0 and the
    // slot holds the worker's pid, a child of the launcher too. Untouched otherwise.
    // born_in: the CLONE_NEW* flags this process was made with (become_forker()'s); setup() then
    // finishes those namespaces (id maps, private mounts, /proc) instead of making them.
    [[nodiscard]] bool setup(std::span<const int> extra_keep_fds = {}, pid_t* worker_pid = nullptr,
                             std::uint64_t born_in = 0);
    // Once, in a single-threaded process that only forks workers (the server's zygote), before
    // its first fork: the steps that are the same for every worker and harmless to the forker
    // itself are taken here, so that its children inherit them: the environment is filtered, and
    // the forker joins the shared network and IPC namespaces (and their owning user namespace),
    // then makes the one user namespace all its children share and keeps only CAP_SYS_ADMIN
    // there, with an empty bounding set that its children inherit. Returns the
    // CLONE_NEW* flags its children should be made with and given to setup(); 0 where the jail
    // has no namespaces. A child made without them (the clone refused) calls setup() with 0 and
    // makes its own, as any forked child does.
    [[nodiscard]] std::uint64_t become_forker();
    // Stage 2: installs the seccomp filter (nothing with SeccompMode::Off).
    [[nodiscard]] bool narrow();

    // Who hears of a seccomp violation before the worker dies of it (an async-signal-safe
    // function, told the syscall number). With a reporter and the built-in filter, Enforce
    // installs the filter's trap variant and a SIGSYS handler that reports and then dies of
    // SIGSYS, since SECCOMP_RET_KILL_PROCESS leaves no trace of which syscall it was. The
    // syscall never runs either way. Process-wide; set it before forking workers.
    static void report_violations_to(void (*reporter)(int syscall_nr));

    const JailConfig& config() const { return m_config; }
    // The fds this jail holds for setup() (the shared namespaces); a launcher that closes the
    // fds a child inherited before calling setup() must keep these. They are never stdio nor
    // fd 3, the worker socket's usual slot.
    std::vector<int> held_fds() const;
    // The filter narrow() will install, if any.
    const BpfProgram* filter() const;

  private:
    void log(LogLevel level, std::string_view message) const;
    bool close_inherited_fds(std::span<const int> extra_keep_fds);
    bool apply_rlimits();
    void filter_environment();
    bool enter_namespaces(pid_t* worker_pid);
    bool finish_birth_namespaces(std::uint64_t born_in);
    void make_mounts_private();
    void mount_private_proc();
    // NotPossible: still the caller, which keeps a reaper instead. Otherwise this is the worker.
    enum class HandOver { Done, NotPossible, WorkerMustExit };
    HandOver hand_over_to_pid_namespace(pid_t* worker_pid);
    bool fork_reaper();
    // All of them, but `keep` where it is given (a value of <sys/capability.h>'s cap_value_t),
    // which stays permitted and effective; the bounding set is emptied either way.
    bool drop_capabilities(std::optional<int> keep = std::nullopt);
    [[noreturn]] void run_reaper(pid_t worker, int ready_fd);
    void make_shared_network_namespace();
    bool join_shared_network_namespace();

    JailConfig m_config;
    // The shared network namespace and the user namespace that owns it (JailConfig); empty when
    // the jail makes none or could not.
    os::UniqueFd m_net_owner;
    os::UniqueFd m_shared_net;
    os::UniqueFd m_shared_ipc;
    std::optional<BpfProgram> m_reaper_filter;
    bool m_in_mount_ns = false;
    bool m_report_violations = false;
    // Set by become_forker(), in the forker's copy of the jail (and so in its children's).
    bool m_environment_filtered = false;
    bool m_in_shared_net = false; // the forker joined the shared network namespace
    // The forker's own user namespace has an empty bounding set, and so has every child of its
    // that makes no user namespace of its own.
    bool m_bounding_set_empty = false;
    uid_t m_forker_uid = 0; // the ids the children's user namespaces map to themselves
    gid_t m_forker_gid = 0;
};

} // namespace vn::sandbox
