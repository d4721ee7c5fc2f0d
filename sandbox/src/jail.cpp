#include "vn/sandbox/jail.h"

#include "vn/os/fd_table.h"
#include "vn/os/process.h"
#include "vn/os/unique_fd.h"
#include "vn/sandbox/policy.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>

extern char** environ;

namespace vn::sandbox {

using os::UniqueFd;

namespace {

// The lowest number the jail's own fds take (held_fds()).
constexpr int kFirstHeldFd = 10;

// The reaper only waits for the worker and then dies the same way.
constexpr std::string_view kReaperPolicy = R"(
wait4: 1
waitid: 1
rt_sigaction: 1
rt_sigprocmask: 1
rt_sigreturn: 1
restart_syscall: 1
getpid: 1
gettid: 1
tgkill: 1
write: 1
close: 1
exit: 1
exit_group: 1
)";

// ---- SIGSYS logging for SeccompMode::Log. The handler may run inside malloc (a trapped brk or
// mmap), so it only reads this table, filled before the filter goes in, and calls write(2).
constexpr int kMaxSyscallNr = 640;
constexpr std::size_t kNameSize = 32;
char g_syscall_names[kMaxSyscallNr][kNameSize];

void append(char* buf, std::size_t& len, std::size_t cap, std::string_view text) {
    for (const char c : text) {
        if (len + 1 >= cap)
            return;
        buf[len++] = c;
    }
}

void sigsys_handler(int, siginfo_t* info, void* context) {
    char buf[160];
    std::size_t len = 0;
    append(buf, len, sizeof(buf), "venus-render-server worker: seccomp blocked syscall ");
    const int nr = info->si_syscall;
    if (nr >= 0 && nr < kMaxSyscallNr && g_syscall_names[nr][0] != '\0')
        append(buf, len, sizeof(buf), g_syscall_names[nr]);
    else
        append(buf, len, sizeof(buf), "?");
    char digits[16];
    int n = 0;
    unsigned value = static_cast<unsigned>(nr);
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0 && n < 15);
    append(buf, len, sizeof(buf), " (");
    while (n > 0)
        append(buf, len, sizeof(buf), std::string_view(&digits[--n], 1));
    append(buf, len, sizeof(buf), ") args");
    auto* uc = static_cast<ucontext_t*>(context);
    // The first three arguments are still in their registers: enough to write an ioctl or
    // madvise rule.
#if defined(__x86_64__)
    const unsigned long long args[3] = {
        static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RDI]),
        static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RSI]),
        static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RDX])};
#elif defined(__aarch64__)
    const unsigned long long args[3] = {uc->uc_mcontext.regs[0], uc->uc_mcontext.regs[1],
                                        uc->uc_mcontext.regs[2]};
#endif
    for (const unsigned long long arg : args) {
        append(buf, len, sizeof(buf), " 0x");
        char hex[17];
        int digits_count = 0;
        unsigned long long rest = arg;
        do {
            hex[digits_count++] = "0123456789abcdef"[rest & 0xf];
            rest >>= 4;
        } while (rest != 0 && digits_count < 16);
        while (digits_count > 0)
            append(buf, len, sizeof(buf), std::string_view(&hex[--digits_count], 1));
    }
    append(buf, len, sizeof(buf), ", failing it with ENOSYS\n");
    (void)!::write(STDERR_FILENO, buf, len);
    // Let the caller see an ordinary failure so that one run finds every missing syscall.
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[0] = static_cast<unsigned long long>(-ENOSYS);
#endif
}

void (*g_violation_reporter)(int) = nullptr;
// si_code of a SIGSYS from seccomp (SYS_SECCOMP in the kernel's asm-generic/siginfo.h, which
// glibc's <signal.h> does not export).
constexpr int kSysSeccomp = 1;

void sigsys_reporter(int, siginfo_t* info, void* context) {
    if (info->si_code != kSysSeccomp) {
        // Sent with kill(): no violation, only the end of the worker.
        ::raise(SIGSYS);
        ::_exit(128 + SIGSYS);
    }
    if (g_violation_reporter)
        g_violation_reporter(info->si_syscall);
    // Dies of SIGSYS as KILL_PROCESS would have it: the same call traps again, with SIGSYS
    // blocked in this handler, and the kernel then forces the default action, which ends even
    // PID 1 of a PID namespace (a raise() would not). The filter is stateless, so the same
    // number and arguments are refused again; they never reach the kernel proper.
    auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
    const auto& r = uc->uc_mcontext.gregs;
    ::syscall(info->si_syscall, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8],
              r[REG_R9]);
#elif defined(__aarch64__)
    const auto& r = uc->uc_mcontext.regs;
    ::syscall(info->si_syscall, r[0], r[1], r[2], r[3], r[4], r[5]);
#endif
    ::_exit(128 + SIGSYS);
}

// Installs `handler` for SIGSYS and unblocks it, so a trapped syscall reaches the handler.
bool install_sigsys(void (*handler)(int, siginfo_t*, void*), int flags) {
    struct sigaction action {};
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&action.sa_mask);
    sigset_t sigsys;
    sigemptyset(&sigsys);
    sigaddset(&sigsys, SIGSYS);
    return ::sigaction(SIGSYS, &action, nullptr) == 0 &&
           ::sigprocmask(SIG_UNBLOCK, &sigsys, nullptr) == 0;
}

bool install_sigsys_reporter() {
    return install_sigsys(sigsys_reporter, SA_RESETHAND);
}

bool install_sigsys_logger() {
    for (int nr = 0; nr < kMaxSyscallNr; ++nr) {
        char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name) {
            std::strncpy(g_syscall_names[nr], name, kNameSize - 1);
            std::free(name);
        }
    }
    return install_sigsys(sigsys_handler, 0);
}

bool write_file(const char* path, std::string_view content) {
    UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
    return fd && ::write(fd.get(), content.data(), content.size()) ==
                     static_cast<ssize_t>(content.size());
}

std::string errno_text(std::string_view what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// The kernel's capability sets of this process (capget(2), version 3: two 32-bit words each).
using CapabilitySets = std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3>;

bool read_capabilities(CapabilitySets& sets) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    return ::syscall(SYS_capget, &header, sets.data()) == 0;
}

// The word of a set that holds `cap`, and its bit there.
std::size_t capability_word(cap_value_t cap) {
    return static_cast<std::size_t>(cap) / 32;
}
std::uint32_t capability_bit(cap_value_t cap) {
    return 1u << (static_cast<unsigned>(cap) % 32);
}

bool has_effective(cap_value_t cap) {
    CapabilitySets sets{};
    return read_capabilities(sets) && (sets[capability_word(cap)].effective & capability_bit(cap));
}

// Maps uid and gid (the ids outside) to themselves in this process's new user namespace: drivers
// and the shader cache see the same owner on files as outside, and nothing maps to root.
bool write_id_maps(uid_t uid, gid_t gid, std::string& why) {
    const std::string uid_map = std::to_string(uid) + " " + std::to_string(uid) + " 1";
    const std::string gid_map = std::to_string(gid) + " " + std::to_string(gid) + " 1";
    // setgroups must be denied before an unprivileged gid_map write; supplementary groups (render,
    // video) stay in force for permission checks.
    if (!write_file("/proc/self/setgroups", "deny") || !write_file("/proc/self/uid_map", uid_map) ||
        !write_file("/proc/self/gid_map", gid_map)) {
        why = errno_text("writing the user namespace id maps");
        return false;
    }
    return true;
}

// `unshared`, where given, tells a namespace entered but left without its id map from none at all.
bool enter_user_namespace(std::string& why, bool* unshared = nullptr) {
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER) != 0) {
        why = errno_text("unshare(CLONE_NEWUSER)");
        return false;
    }
    if (unshared)
        *unshared = true;
    return write_id_maps(uid, gid, why);
}

// clone(2) for the hand-over. The new process shares this one's memory and stack, so in the caller
// nothing may touch memory after the syscall: it exits straight from the assembly. The new process
// returns 0, as from fork(); on failure the caller gets -errno. Hand-written because no libc
// wrapper leaves the parent without running any code on the shared stack.
long clone_and_leave(unsigned long flags, pid_t* parent_tid, pid_t* child_tid) {
#if defined(__x86_64__)
    long ret;
    register pid_t* r10 asm("r10") = child_tid;
    register long r8 asm("r8") = 0; // tls
    asm volatile("syscall\n\t"
                 "test %%rax, %%rax\n\t"
                 "jle 1f\n\t"
                 "mov %[exit_group], %%eax\n\t"
                 "xor %%edi, %%edi\n\t"
                 "syscall\n\t"
                 "1:"
                 : "=a"(ret)
                 : "0"(static_cast<long>(SYS_clone)), "D"(flags), "S"(0L), "d"(parent_tid),
                   "r"(r10), "r"(r8), [exit_group] "i"(SYS_exit_group)
                 : "rcx", "r11", "memory", "cc");
    return ret;
#elif defined(__aarch64__)
    register long x8 asm("x8") = SYS_clone;
    register unsigned long x0 asm("x0") = flags;
    register long x1 asm("x1") = 0; // same stack
    register pid_t* x2 asm("x2") = parent_tid;
    register long x3 asm("x3") = 0; // tls
    register pid_t* x4 asm("x4") = child_tid;
    asm volatile("svc #0\n\t"
                 "cmp x0, #0\n\t"
                 "b.le 1f\n\t"
                 "mov x8, %[exit_group]\n\t"
                 "mov x0, #0\n\t"
                 "svc #0\n\t"
                 "1:"
                 : "+r"(x0), "+r"(x8)
                 : "r"(x1), "r"(x2), "r"(x3), "r"(x4), [exit_group] "i"(SYS_exit_group)
                 : "memory", "cc");
    return static_cast<long>(x0);
#else
    (void)flags;
    (void)parent_tid;
    (void)child_tid;
    return -ENOSYS;
#endif
}

// A process made with CLONE_VM starts without restartable sequences; glibc's area in the thread
// descriptor still holds the caller's last CPU, which sched_getcpu() would go on returning.
// Register the area again, or mark it failed so that glibc asks the kernel instead.
void reregister_rseq() {
    if (__rseq_size == 0)
        return;
#if defined(__x86_64__)
    char* thread_pointer; // the TLS ABI keeps the thread control block's own address at %fs:0
    asm("mov %%fs:0, %0" : "=r"(thread_pointer));
#else
    auto* thread_pointer = static_cast<char*>(__builtin_thread_pointer());
#endif
    auto* area = reinterpret_cast<struct rseq*>(thread_pointer + __rseq_offset);
    // The original ABI's length, which every kernel with rseq accepts.
    constexpr unsigned kRseqLength = 32;
    if (::syscall(SYS_rseq, area, kRseqLength, 0, RSEQ_SIG) != 0)
        area->cpu_id = static_cast<std::uint32_t>(RSEQ_CPU_ID_REGISTRATION_FAILED);
}

} // namespace

std::vector<std::string> JailConfig::default_env_allowlist() {
    return {
        // Vulkan loader: which ICD to load. Layer variables (VK_LAYER_PATH, VK_INSTANCE_LAYERS)
        // are left out on purpose: they load extra code into a guest-driven process.
        "VK_ICD_FILENAMES", "VK_DRIVER_FILES", "VK_ADD_DRIVER_FILES", "VK_LOADER_DEBUG",
        "VK_LOADER_DRIVERS_SELECT", "VK_LOADER_DRIVERS_DISABLE",
        // Mesa (driconf overrides, shader cache, device selection) and its drivers.
        "MESA_*", "LP_*", "GALLIUM_*", "RADV_*", "ACO_*", "ANV_*", "INTEL_*", "TU_*", "NVK_*",
        "LIBGL_*",
        // NVIDIA's driver knobs (shader disk cache path, threaded optimisations...).
        "__GL_*", "__NV_*",
        // Our own decoder's knobs (VENUS_RECORDED_CALLS).
        "VENUS_*",
        // Shader caches: Mesa and NVIDIA use $XDG_CACHE_HOME, else $HOME/.cache.
        "XDG_CACHE_HOME", "HOME",
        // LD_LIBRARY_PATH is dropped: ld.so read it when the server started, and the worker is
        // forked, not executed, so dlopen already searches the server's paths.
    };
}

void Jail::report_violations_to(void (*reporter)(int syscall_nr)) {
    g_violation_reporter = reporter;
}

Jail::Jail(JailConfig config) : m_config(std::move(config)) {
    if (m_config.namespaces && m_config.shared_network_namespace)
        make_shared_network_namespace();
    if (m_config.seccomp == SeccompMode::Off)
        return;
    if (!m_config.filter) {
        // The trap variant when violations are reported: the same rules, and a violation still
        // ends the worker (sigsys_reporter), but the syscall number reaches the server.
        m_report_violations =
            m_config.seccomp == SeccompMode::Enforce && g_violation_reporter != nullptr;
        m_config.filter =
            default_worker_filter(m_config.seccomp == SeccompMode::Log || m_report_violations);
    }
    std::string error;
    auto policy = Policy::parse(kReaperPolicy, error);
    if (policy)
        m_reaper_filter = policy->compile(native_arch(), DefaultAction::KillProcess, error);
    if (!m_reaper_filter)
        log(LogLevel::Warn, "reaper filter: " + error);
}

void Jail::make_shared_network_namespace() {
    // A throwaway child makes the namespaces (an unprivileged process can only make a network
    // namespace inside a user namespace of its own); this process keeps them open through
    // /proc, and as their owner it may join them, as may every worker forked from it.
    int ready[2], hold[2];
    if (::pipe2(ready, O_CLOEXEC) != 0)
        return;
    UniqueFd ready_read(ready[0]), ready_write(ready[1]);
    if (::pipe2(hold, O_CLOEXEC) != 0)
        return;
    UniqueFd hold_read(hold[0]), hold_write(hold[1]);
    const pid_t holder = ::fork();
    if (holder < 0)
        return;
    if (holder == 0) {
        hold_write.reset(); // or the read below never sees the parent close it
        ready_read.reset();
        std::string why;
        const char made =
            enter_user_namespace(why) && ::unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0 ? '1' : '0';
        (void)!::write(ready_write.get(), &made, 1);
        char byte;
        (void)!::read(hold_read.get(), &byte, 1); // until the parent has opened them
        ::_exit(0);
    }
    ready_write.reset();
    hold_read.reset();
    char made = '0';
    if (::read(ready_read.get(), &made, 1) == 1 && made == '1') {
        const std::string ns = "/proc/" + std::to_string(holder) + "/ns/";
        // Above stdio and fd 3, where launchers put a worker's socket before the jail's setup.
        auto open_high = [](const std::string& path) {
            UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            return fd ? UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, kFirstHeldFd)) : UniqueFd();
        };
        m_net_owner = open_high(ns + "user");
        m_shared_net = open_high(ns + "net");
        m_shared_ipc = open_high(ns + "ipc");
        if (!m_net_owner || !m_shared_net || !m_shared_ipc) {
            m_net_owner.reset();
            m_shared_net.reset();
            m_shared_ipc.reset();
        }
    }
    hold_write.reset();
    while (::waitpid(holder, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (!m_shared_net)
        log(LogLevel::Debug, "no shared network namespace; each worker gets one of its own");
}

bool Jail::join_shared_network_namespace() {
    if (!m_shared_net)
        return false;
    // Into the owning user namespace first: joining a network namespace takes CAP_SYS_ADMIN
    // there, which its owner's processes get on entering it.
    const bool joined = ::setns(m_net_owner.get(), CLONE_NEWUSER) == 0 &&
                        ::setns(m_shared_net.get(), CLONE_NEWNET) == 0 &&
                        ::setns(m_shared_ipc.get(), CLONE_NEWIPC) == 0;
    if (!joined)
        log(LogLevel::Debug, errno_text("joining the shared network and IPC namespaces") +
                                 "; the worker gets its own");
    m_net_owner.reset();
    m_shared_net.reset();
    m_shared_ipc.reset();
    return joined;
}

std::vector<int> Jail::held_fds() const {
    std::vector<int> fds;
    for (const int fd : {m_net_owner.get(), m_shared_net.get(), m_shared_ipc.get()})
        if (fd >= 0)
            fds.push_back(fd);
    return fds;
}

Jail::~Jail() = default;
Jail::Jail(Jail&&) noexcept = default;
Jail& Jail::operator=(Jail&&) noexcept = default;

const BpfProgram* Jail::filter() const {
    return m_config.seccomp == SeccompMode::Off || !m_config.filter ? nullptr : &*m_config.filter;
}

void Jail::log(LogLevel level, std::string_view message) const {
    if (m_config.log) {
        m_config.log(level, message);
        return;
    }
    std::string line = "venus-render-server sandbox: ";
    line.append(message).push_back('\n');
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

bool Jail::close_inherited_fds(std::span<const int> extra_keep_fds) {
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) {
        log(LogLevel::Error, errno_text("open /dev/null"));
        return false;
    }
    if (::fcntl(STDERR_FILENO, F_GETFD) < 0 && ::dup2(null.get(), STDERR_FILENO) < 0)
        return false;
    if (::dup2(null.get(), STDIN_FILENO) < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        log(LogLevel::Error, errno_text("dup2"));
        return false;
    }
    null.reset();

    // The shared namespaces stay open until enter_namespaces() has joined them.
    std::vector<int> keep = held_fds();
    keep.insert(keep.end(), m_config.keep_fds.begin(), m_config.keep_fds.end());
    keep.insert(keep.end(), extra_keep_fds.begin(), extra_keep_fds.end());
    if (!os::close_fds_from(STDERR_FILENO + 1, std::move(keep))) {
        log(LogLevel::Error, errno_text("close_range"));
        return false;
    }
    return true;
}

void Jail::filter_environment() {
    auto allowed = [this](std::string_view name) {
        return std::any_of(m_config.env_allow.begin(), m_config.env_allow.end(),
                           [name](std::string_view pattern) {
                               if (!pattern.empty() && pattern.back() == '*')
                                   return name.substr(0, pattern.size() - 1) ==
                                          pattern.substr(0, pattern.size() - 1);
                               return name == pattern;
                           });
    };
    std::vector<std::pair<std::string, std::string>> keep;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view text(*entry);
        const std::size_t eq = text.find('=');
        if (eq == std::string_view::npos)
            continue;
        if (allowed(text.substr(0, eq)))
            keep.emplace_back(text.substr(0, eq), text.substr(eq + 1));
    }
    ::clearenv();
    for (const auto& [name, value] : keep)
        ::setenv(name.c_str(), value.c_str(), 1);
}

bool Jail::apply_rlimits() {
    auto set = [this](int resource, const char* name, std::uint64_t value) {
        rlimit current{};
        if (::getrlimit(resource, &current) != 0)
            return false;
        // Without CAP_SYS_RESOURCE the hard limit only goes down.
        const rlim_t wanted = std::min<rlim_t>(static_cast<rlim_t>(value), current.rlim_max);
        const rlimit limit{wanted, wanted};
        if (::setrlimit(resource, &limit) != 0) {
            log(LogLevel::Error, errno_text(std::string("setrlimit ") + name));
            return false;
        }
        return true;
    };
    bool ok = set(RLIMIT_CORE, "RLIMIT_CORE", 0);
    if (m_config.rlimit_nofile)
        ok = ok && set(RLIMIT_NOFILE, "RLIMIT_NOFILE", m_config.rlimit_nofile);
    if (m_config.rlimit_as)
        ok = ok && set(RLIMIT_AS, "RLIMIT_AS", m_config.rlimit_as);
    if (m_config.rlimit_data)
        ok = ok && set(RLIMIT_DATA, "RLIMIT_DATA", m_config.rlimit_data);
    if (m_config.rlimit_nproc)
        ok = ok && set(RLIMIT_NPROC, "RLIMIT_NPROC", m_config.rlimit_nproc);
    return ok;
}

bool Jail::enter_namespaces(pid_t* worker_pid) {
    // Before the worker's own user namespace, which is then nested in the shared one's owner. A
    // forker's child (one it could not make in its namespaces) is in it already.
    const bool shared_net = m_in_shared_net || join_shared_network_namespace();
    std::string why;
    const bool user = enter_user_namespace(why);
    if (user) {
        m_bounding_set_empty = false; // a new user namespace gives a full one
    } else {
        // Containers (Docker's default seccomp profile, nested user namespace limits) and
        // kernel.unprivileged_userns_clone=0 land here. The other namespaces then need
        // CAP_SYS_ADMIN, which only a root server has.
        log(m_config.require_namespaces ? LogLevel::Error : LogLevel::Debug,
            why + "; the worker runs without a user namespace");
        if (m_config.require_namespaces)
            return false;
    }
    if (::unshare(CLONE_NEWNS | (shared_net ? 0 : CLONE_NEWNET | CLONE_NEWIPC)) == 0) {
        make_mounts_private();
    } else {
        log(m_config.require_namespaces ? LogLevel::Error : LogLevel::Debug,
            errno_text("unshare(mount, IPC, network)") + "; going on without them");
        if (m_config.require_namespaces)
            return false;
    }
    if (::unshare(CLONE_NEWPID) != 0) {
        log(m_config.require_namespaces ? LogLevel::Error : LogLevel::Debug,
            errno_text("unshare(CLONE_NEWPID)") + "; going on without a PID namespace");
        return !m_config.require_namespaces;
    }
    const HandOver handed =
        worker_pid ? hand_over_to_pid_namespace(worker_pid) : HandOver::NotPossible;
    if (handed == HandOver::WorkerMustExit)
        return false;
    if (handed == HandOver::NotPossible && !fork_reaper())
        return false;
    mount_private_proc();
    return true;
}

void Jail::make_mounts_private() {
    m_in_mount_ns = true;
    // Nothing this worker mounts may propagate back, and nothing later mounted on the host
    // (a USB stick, a FUSE fs) propagates in.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        log(LogLevel::Debug, errno_text("making mounts private"));
}

void Jail::mount_private_proc() {
    if (m_in_mount_ns &&
        ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        // A container that masks parts of /proc forbids a fresh proc mount; the outer /proc then
        // stays, and PR_SET_DUMPABLE=0 still keeps sibling workers out of our /proc/<pid>.
        log(LogLevel::Debug, errno_text("mounting a private /proc"));
    }
}

std::uint64_t Jail::become_forker() {
    filter_environment();
    m_environment_filtered = true;
    if (!m_config.namespaces)
        return 0;
    const bool shared_net = join_shared_network_namespace();
    m_in_shared_net = shared_net;
    m_forker_uid = ::geteuid();
    m_forker_gid = ::getegid();
    const std::uint64_t others =
        CLONE_NEWNS | CLONE_NEWPID | (shared_net ? 0 : CLONE_NEWNET | CLONE_NEWIPC);
    // One user namespace for all of the forker's children, made here once. A user namespace of
    // a worker's own would give it a full bounding set, which takes one prctl per capability to
    // empty (a credential copy each: a third of a jail's cost on a paravirtualised host); here
    // the forker empties it once and its children inherit it empty. The forker keeps only
    // CAP_SYS_ADMIN in this namespace, which making its children's mount and PID namespaces and
    // their /proc takes; each child drops it once it has. Sharing the user namespace gives a
    // worker no way to its siblings: without capabilities it holds nothing in it, the seccomp
    // filter refuses setns and ptrace, each is not dumpable, and each is alone in its own PID
    // namespace, with no other process to signal.
    std::string why;
    bool unshared = false;
    const bool mapped = enter_user_namespace(why, &unshared);
    if (unshared) {
        // Where the map fails (a root server without CAP_SETFCAP may not map uid 0), the
        // children still get their mount and PID namespaces, made with the capability kept
        // below; only their ids show as the overflow ids inside.
        if (!mapped)
            log(LogLevel::Warn, why + "; the workers' user namespace has no id map");
        if (drop_capabilities(CAP_SYS_ADMIN))
            m_bounding_set_empty = true;
        else
            log(LogLevel::Warn, "the forker keeps its capabilities in its user namespace");
        return others;
    }
    log(LogLevel::Debug, why + "; each worker makes its own user namespace");
    // Joining gave the forker every capability in the shared namespace's owner. It needs none
    // but one: a child made with CLONE_NEWUSER gets its other namespaces in its own new user
    // namespace, where it has every capability. The one: a root server's children map uid 0 to
    // itself, which the kernel allows only in a user namespace whose creator held CAP_SETFCAP.
    const std::optional<cap_value_t> keep =
        m_forker_uid == 0 ? std::optional<cap_value_t>(CAP_SETFCAP) : std::nullopt;
    if (!drop_capabilities(keep))
        log(LogLevel::Warn, "the forker keeps its capabilities in the shared network namespace's "
                            "owner");
    return CLONE_NEWUSER | others;
}

bool Jail::finish_birth_namespaces(std::uint64_t born_in) {
    if (born_in & CLONE_NEWUSER) {
        // Until the maps are written this process has the overflow ids; the forker's are the
        // ones to map.
        std::string why;
        if (!write_id_maps(m_forker_uid, m_forker_gid, why)) {
            log(LogLevel::Error, why);
            return false;
        }
    }
    if (born_in & CLONE_NEWNS)
        make_mounts_private();
    if (born_in & CLONE_NEWPID)
        mount_private_proc();
    return true;
}

bool Jail::fork_reaper() {
    // The worker waits until the reaper has shed its privileges, so that nobody (a test reading
    // /proc, an attacker racing the first request) ever finds a serving worker beside a privileged
    // reaper.
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) {
        log(LogLevel::Error, errno_text("pipe2"));
        return false;
    }
    UniqueFd ready_read(ready[0]), ready_write(ready[1]);
    // Lets the worker see whether the reaper died before PR_SET_PDEATHSIG was armed (a server
    // killing a context right after creating it); getppid() is 0 across the PID namespace.
    UniqueFd reaper_pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
    const pid_t worker = ::fork();
    if (worker < 0) {
        log(LogLevel::Error, errno_text("fork into the PID namespace"));
        return false;
    }
    if (worker > 0) {
        ready_read.reset();
        run_reaper(worker, ready_write.release());
    }
    // PID 1 of the new namespace from here on. If the reaper is killed, so are we.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (reaper_pidfd) {
        pollfd reaper{reaper_pidfd.get(), POLLIN, 0};
        if (::poll(&reaper, 1, 0) != 0) {
            log(LogLevel::Debug, "the jail's reaper is gone; the worker exits");
            return false;
        }
        reaper_pidfd.reset();
    }
    ready_write.reset();
    char byte = 0;
    ssize_t n;
    while ((n = ::read(ready_read.get(), &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) {
        log(LogLevel::Error, "the jail's reaper died before it was ready");
        return false;
    }
    ready_read.reset();
    return true;
}

Jail::HandOver Jail::hand_over_to_pid_namespace(pid_t* worker_pid) {
    pid_t* const tid_field = os::glibc_tid_field();
    if (!tid_field)
        return HandOver::NotPossible;
    // Whether the server (this process's parent) outlives the hand-over; the worker checks once
    // its own PR_SET_PDEATHSIG is armed.
    UniqueFd parent(static_cast<int>(::syscall(SYS_pidfd_open, ::getppid(), 0)));
    if (!parent)
        return HandOver::NotPossible;
    // From the clone until this process has exited, both run on one stack: no signal frame may
    // land on it.
    sigset_t all, old;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, &old);
    // Else this process's exit would write 0 over the worker's tid (glibc set this thread's
    // clear_child_tid to the same field).
    ::syscall(SYS_set_tid_address, nullptr);
    const long pid = clone_and_leave(
        CLONE_VM | CLONE_PARENT | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID, worker_pid, tid_field);
    if (pid < 0) {
        ::syscall(SYS_set_tid_address, tid_field);
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        errno = static_cast<int>(-pid);
        log(LogLevel::Debug, errno_text("moving into the PID namespace without a reaper") +
                                 "; the jail keeps a reaper");
        return HandOver::NotPossible;
    }
    // The worker, PID 1 of the new namespace, a child of the launcher's parent; the caller is gone.
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    reregister_rseq();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    pollfd gone{parent.get(), POLLIN, 0};
    if (::poll(&gone, 1, 0) != 0) {
        log(LogLevel::Debug, "the server is gone; the worker exits");
        return HandOver::WorkerMustExit;
    }
    return HandOver::Done;
}

bool Jail::drop_capabilities(std::optional<cap_value_t> keep) {
    // The bounding set can only shrink with CAP_SETPCAP: always ours in a fresh user namespace,
    // never for an unprivileged server without one (which has nothing to drop anyway). All of
    // it goes, `keep` too: the set only bounds what an execve() could gain, never what this
    // process holds.
    if (!m_bounding_set_empty && has_effective(CAP_SETPCAP)) {
        for (cap_value_t cap = 0; cap < static_cast<cap_value_t>(cap_max_bits()); ++cap) {
            if (cap_drop_bound(cap) != 0 && errno != EINVAL) {
                log(LogLevel::Error, errno_text("dropping the capability bounding set"));
                return false;
            }
        }
    }
    // The kernel's one call rather than libcap's cap_reset_ambient(), which first asks about
    // every capability in turn (42 prctl calls in libcap 2.66, a fifth of a millisecond per
    // worker on a paravirtualised host). Fails only where the kernel has no ambient set.
    (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    // capset(2) and capget(2) themselves, not libcap's cap_set_proc() and cap_get_proc(): those
    // allocate their sets on the heap, and in a process just forked from a large one each first
    // allocation costs page faults (a tenth of a millisecond per worker on a paravirtualised
    // host), where the kernel's structures are two words per set.
    CapabilitySets wanted{};
    if (keep) {
        wanted[capability_word(*keep)].permitted = capability_bit(*keep);
        wanted[capability_word(*keep)].effective = capability_bit(*keep);
    }
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    if (::syscall(SYS_capset, &header, wanted.data()) != 0) {
        log(LogLevel::Error, errno_text("capset"));
        return false;
    }
    CapabilitySets now{};
    if (!read_capabilities(now) || std::memcmp(now.data(), wanted.data(), sizeof(now)) != 0) {
        log(LogLevel::Error, "capabilities are still set after dropping them");
        return false;
    }
    return true;
}

void Jail::run_reaper(pid_t worker, int ready_fd) {
    // Hold nothing the worker has: its socket must hang up when the worker dies.
    (void)os::close_fds_from(STDERR_FILENO + 1, {ready_fd});
    if (!drop_capabilities())
        ::_exit(1);
    ::prctl(PR_SET_DUMPABLE, 0);
    std::string error;
    if (m_reaper_filter && !m_reaper_filter->install(error))
        ::_exit(1);
    UniqueFd ready(ready_fd);
    const char byte = 1;
    if (::write(ready.get(), &byte, 1) != 1)
        ::_exit(1);
    ready.reset();
    int status = 0;
    while (::waitpid(worker, &status, 0) < 0) {
        if (errno != EINTR)
            ::_exit(1);
    }
    if (WIFEXITED(status))
        ::_exit(WEXITSTATUS(status));
    const int sig = WTERMSIG(status);
    ::signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(sig);
    ::_exit(128 + sig); // a signal whose default is not to terminate
}

bool Jail::setup(std::span<const int> extra_keep_fds, pid_t* worker_pid, std::uint64_t born_in) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        log(LogLevel::Error, errno_text("PR_SET_NO_NEW_PRIVS"));
        return false;
    }
    if (!close_inherited_fds(extra_keep_fds))
        return false;
    if (!m_environment_filtered)
        filter_environment();
    if (!apply_rlimits())
        return false;
    if (born_in != 0) {
        if (!finish_birth_namespaces(born_in))
            return false;
    } else if (m_config.namespaces && !enter_namespaces(worker_pid)) {
        return false;
    }
    if (!drop_capabilities())
        return false;
    // Keeps other processes of our uid (sibling workers) out of /proc/<pid>/mem and ptrace.
    if (::prctl(PR_SET_DUMPABLE, 0) != 0) {
        log(LogLevel::Error, errno_text("PR_SET_DUMPABLE"));
        return false;
    }
    return true;
}

bool Jail::narrow() {
    if (m_config.reopen_syslog)
        ::openlog(nullptr, LOG_PID | LOG_NDELAY, 0);
    const BpfProgram* program = filter();
    if (!program)
        return true;
    if (m_config.seccomp == SeccompMode::Log && !install_sigsys_logger()) {
        log(LogLevel::Error, errno_text("installing the SIGSYS logger"));
        return false;
    }
    if (m_report_violations && !install_sigsys_reporter()) {
        log(LogLevel::Error, errno_text("installing the SIGSYS reporter"));
        return false;
    }
    std::string error;
    if (!program->install(error)) {
        log(LogLevel::Error, error);
        return false;
    }
    return true;
}

NamespaceSupport Jail::probe_namespaces() {
    NamespaceSupport support;
    UniqueFd pipe_read, pipe_write;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        support.detail = errno_text("pipe2");
        return support;
    }
    pipe_read.reset(fds[0]);
    pipe_write.reset(fds[1]);
    const pid_t child = ::fork();
    if (child < 0) {
        support.detail = errno_text("fork");
        return support;
    }
    if (child == 0) {
        std::string why;
        char result[128] = {};
        result[0] = enter_user_namespace(why) ? 'u' : '-';
        result[1] = ::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET) == 0 ? 'o' : '-';
        result[2] = ::unshare(CLONE_NEWPID) == 0 ? 'p' : '-';
        std::strncpy(result + 3, why.c_str(), sizeof(result) - 4);
        (void)!::write(pipe_write.get(), result, sizeof(result));
        ::_exit(0);
    }
    pipe_write.reset();
    char result[128] = {};
    const ssize_t n = ::read(pipe_read.get(), result, sizeof(result));
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof(result))) {
        support.detail = "namespace probe failed";
        return support;
    }
    support.user = result[0] == 'u';
    support.others = result[1] == 'o';
    support.pid = result[2] == 'p';
    result[sizeof(result) - 1] = '\0';
    support.detail = result + 3;
    return support;
}

} // namespace vn::sandbox
