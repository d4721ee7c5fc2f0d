// venus-render-server: command line compatible with virglrenderer's virgl_render_server
// (`--socket-fd N` and the `--worker-seccomp-*` options), plus a listening mode, systemd socket
// activation, and a foreground single-context worker for debugging.
#include "allocator.h"
#include "context_loop.h"
#include "driver_manifests.h"
#include "log.h"
#include "server.h"
#include "shared_relro.h"
#include "startup_code.h"
#include "vn/decoder/driver_preload.h"
#include "vn/sandbox/jail.h"
#include "vn/sandbox/policy.h"
#include "vn/server/protocol/seqpacket.h"
#include "worker.h"
#include "worker_report.h"

#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#ifndef VN_SERVER_VERSION
#define VN_SERVER_VERSION "unknown"
#endif

namespace {

using namespace vn::server;
using vn::os::UniqueFd;

constexpr int kExitUsage = 2;

void print_usage(std::FILE* out) {
    std::fprintf(
        out, "Usage: venus-render-server [OPTION]...\n"
             "       venus-render-server worker --single-context (--socket-fd N | "
             "--socket-path PATH) [OPTION]...\n"
             "\n"
             "Venus render server, a drop-in replacement for virglrenderer's "
             "virgl_render_server.\n"
             "\n"
             "Connection (one of; with none, systemd socket activation is used):\n"
             "  --socket-fd N          serve the connected SOCK_SEQPACKET socket N (one VMM)\n"
             "  --listen PATH          listen on a SOCK_SEQPACKET unix socket at PATH and serve\n"
             "                         every VMM that connects, each isolated\n"
             "Workers:\n"
             "  --worker=process|thread  one forked process per context (default), or one\n"
             "                         thread per context (debugging only: no isolation)\n"
             "  --driver-preload[=auto|on|off]\n"
             "                         load the host Vulkan driver once in the server, before\n"
             "                         any client, so workers share its pages (half the memory\n"
             "                         per worker on lavapipe); only for drivers that survive\n"
             "                         fork() after initialization (NVIDIA's does not). auto,\n"
             "                         the default: when every ICD manifest names a Mesa driver\n"
             "  --spare-workers=N      keep N workers forked and jailed ahead of time, each\n"
             "                         waiting for a context (default 2; 0: fork each worker\n"
             "                         when its context is created)\n"
             "  --no-spare-worker      the same as --spare-workers=0\n"
             "  --sandbox=on|log|off   jail each worker (default on); log: blocked syscalls are\n"
             "                         logged and fail with ENOSYS instead of killing; off:\n"
             "                         no jail (debugging only)\n"
             "  --worker-seccomp-bpf PATH\n"
             "                         load this raw seccomp BPF program (struct sock_filter[])\n"
             "                         instead of the built-in worker filter\n"
             "  --worker-seccomp-minijail-policy PATH\n"
             "                         compile this policy (our minijail-like format, see\n"
             "                         venus-render-server-worker.policy) instead\n"
             "  --worker-seccomp-minijail-log\n"
             "                         with a policy: log blocked syscalls instead of killing\n"
             "  --worker-rlimit-as=BYTES, --worker-rlimit-data=BYTES\n"
             "                         cap each worker's address space or data segment\n"
             "                         (default: no RLIMIT_AS; RLIMIT_DATA = the device and\n"
             "                         host memory quotas plus 8 GiB for the driver)\n"
             "Per-context quotas (going over is the allocation's Vulkan out-of-memory error):\n"
             "  --context-max-device-memory=BYTES  VkDeviceMemory held (default 64 GiB)\n"
             "  --context-max-host-memory=BYTES    host memory held for the guest: shm blobs\n"
             "                         and host-visible memory backed by a memfd (default 64 GiB)\n"
             "  --context-max-objects=N  live Vulkan objects (default 4194304)\n"
             "  --context-max-rings=N    Venus rings (default 64; one more ends the context)\n"
             "Operators: SIGUSR1 logs one 'context N stats:' line per live context; each\n"
             "context's end is logged once as 'context N end: ... cause=...' with its counters\n"
             "and the worker's CPU time (cpu_ms).\n"
             "Environment: without LD_BIND_NOW, the server runs itself again with LD_BIND_NOW=1\n"
             "(same pid and fds) so that no worker binds symbols after its fork; set it (even\n"
             "empty) to skip that, e.g. under valgrind, which an exec would leave.\n"
             "Logging:\n"
             "  --log-level=LEVEL      trace, debug, info (default), warn, error, off\n"
             "  --log-target=TARGET    stderr (default) or syslog (journald reads it)\n"
             "  --help                 show this text\n"
             "  --version              show the version\n"
             "\n"
             "Single-context worker (no fork; for gdb and valgrind):\n"
             "  worker --single-context --socket-fd N      serve context ops on fd N\n"
             "  worker --single-context --socket-path PATH accept one connection on PATH\n"
             "         [--ctx-id N] [--ctx-name NAME] [--log-level=LEVEL]\n");
}

// The worker jail (vn::sandbox) behind the launcher's seam. One template for all workers.
class SandboxJail final : public JailHook {
  public:
    SandboxJail(vn::sandbox::JailConfig config, std::optional<std::uint32_t> violation_ctx,
                std::optional<std::uint32_t> fault_ctx, bool refuse_birth)
        : m_jail(std::move(config)), m_violation_ctx(violation_ctx), m_fault_ctx(fault_ctx),
          m_refuse_birth(refuse_birth) {}

    bool setup(std::uint32_t, int socket_fd, pid_t* worker_pid, std::uint64_t born_in) override {
        return m_jail.setup({&socket_fd, 1}, worker_pid, born_in);
    }

    std::uint64_t become_forker() override {
        const std::uint64_t namespaces = m_jail.become_forker();
        // Test only (--test-zygote-clone-refused): a flag the kernel refuses beside CLONE_NEWNS
        // (EINVAL), so that tests see the zygote fall back to spares that make their own.
        return m_refuse_birth && namespaces != 0 ? namespaces | CLONE_FS : namespaces;
    }

    bool narrow(std::uint32_t) override { return m_jail.narrow(); }

    std::vector<int> held_fds() const override { return m_jail.held_fds(); }

    void started(std::uint32_t ctx_id) override {
        if (m_violation_ctx == ctx_id) {
            // Test only (--test-worker-seccomp-violation): a forbidden syscall once the context has
            // had time to serve, so that tests see a running context die and get reported lost.
            std::thread([] {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                ::syscall(SYS_ptrace, 0, 0, 0, 0);
            }).detach();
        }
        if (m_fault_ctx == ctx_id) {
            // Test only (--test-worker-fault): a real memory fault, as a driver bug would make.
            std::thread([] {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                volatile int* volatile nowhere = nullptr;
                *nowhere = 1;
            }).detach();
        }
    }

  private:
    vn::sandbox::Jail m_jail;
    std::optional<std::uint32_t> m_violation_ctx;
    std::optional<std::uint32_t> m_fault_ctx;
    bool m_refuse_birth;
};

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size())
        return std::nullopt;
    return value;
}

std::optional<std::string> read_text_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof(buf))) != 0;) {
        if (n < 0)
            return std::nullopt;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

std::optional<int> parse_int(std::string_view text) {
    int value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < 0)
        return std::nullopt;
    return value;
}

UniqueFd listen_on(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        spdlog::critical("--listen: path too long: {}", path);
        return {};
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        spdlog::critical("socket: {}", std::strerror(errno));
        return {};
    }
    // Replace a stale socket file, but never a live server's socket or a non-socket file.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
            spdlog::critical("--listen: a server is already listening on {}", path);
            return {};
        }
        ::unlink(path.c_str());
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd.get(), 64) != 0) {
        spdlog::critical("--listen {}: {}", path, std::strerror(errno));
        return {};
    }
    return fd;
}

// sd_listen_fds(3), without libsystemd: fds 3.. LISTEN_FDS, meant for us if LISTEN_PID matches.
std::vector<UniqueFd> systemd_sockets() {
    std::vector<UniqueFd> fds;
    const char* pid_env = std::getenv("LISTEN_PID");
    const char* fds_env = std::getenv("LISTEN_FDS");
    if (!pid_env || !fds_env)
        return fds;
    const auto pid = parse_int(pid_env);
    const auto count = parse_int(fds_env);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    if (!pid || !count || *pid != ::getpid())
        return fds;
    constexpr int kFirst = 3;
    for (int i = 0; i < *count; ++i) {
        const int fd = kFirst + i;
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        fds.emplace_back(fd);
    }
    return fds;
}

bool is_listening(int fd) {
    int value = 0;
    socklen_t len = sizeof(value);
    return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0 && value != 0;
}

int run_single_context(int argc, char** argv) {
    enum { kSingle = 1, kSocketFd, kSocketPath, kCtxId, kCtxName, kLogLevel, kHelp };
    static const option kOptions[] = {
        {"single-context", no_argument, nullptr, kSingle},
        {"socket-fd", required_argument, nullptr, kSocketFd},
        {"socket-path", required_argument, nullptr, kSocketPath},
        {"ctx-id", required_argument, nullptr, kCtxId},
        {"ctx-name", required_argument, nullptr, kCtxName},
        {"log-level", required_argument, nullptr, kLogLevel},
        {"help", no_argument, nullptr, kHelp},
        {nullptr, 0, nullptr, 0},
    };
    bool single = false;
    std::optional<int> socket_fd;
    std::string socket_path;
    ContextConfig config;
    config.ctx_id = 1;
    config.name = "single-context";
    auto level = spdlog::level::info;
    int opt;
    while ((opt = getopt_long(argc, argv, "", kOptions, nullptr)) != -1) {
        switch (opt) {
        case kSingle:
            single = true;
            break;
        case kSocketFd:
            socket_fd = parse_int(optarg);
            if (!socket_fd) {
                std::fprintf(stderr, "worker: bad --socket-fd '%s'\n", optarg);
                return kExitUsage;
            }
            break;
        case kSocketPath:
            socket_path = optarg;
            break;
        case kCtxId: {
            const auto id = parse_int(optarg);
            if (!id || *id == 0) {
                std::fprintf(stderr, "worker: bad --ctx-id '%s'\n", optarg);
                return kExitUsage;
            }
            config.ctx_id = static_cast<std::uint32_t>(*id);
            break;
        }
        case kCtxName:
            config.name = optarg;
            break;
        case kLogLevel: {
            const auto parsed = parse_log_level(optarg);
            if (!parsed) {
                std::fprintf(stderr, "worker: bad --log-level '%s'\n", optarg);
                return kExitUsage;
            }
            level = *parsed;
            break;
        }
        case kHelp:
            print_usage(stdout);
            return 0;
        default:
            return kExitUsage;
        }
    }
    if (optind != argc || !single || (socket_fd.has_value() == !socket_path.empty())) {
        std::fprintf(stderr, "worker: needs --single-context and exactly one of --socket-fd or "
                             "--socket-path\n");
        return kExitUsage;
    }
    setup_logging(level, LogTarget::Stderr);
    config.init_flags = protocol::kRendererVenus | protocol::kRendererNoVirgl;

    UniqueFd socket;
    if (socket_fd) {
        socket.reset(*socket_fd);
        ::fcntl(socket.get(), F_SETFD, FD_CLOEXEC);
    } else {
        UniqueFd listener = listen_on(socket_path);
        if (!listener)
            return 1;
        const int flags = ::fcntl(listener.get(), F_GETFL);
        ::fcntl(listener.get(), F_SETFL, flags & ~O_NONBLOCK);
        spdlog::info("worker: waiting for one connection on {}", socket_path);
        socket.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        ::unlink(socket_path.c_str());
        if (!socket) {
            spdlog::critical("accept: {}", std::strerror(errno));
            return 1;
        }
    }
    if (!protocol::is_seqpacket_socket(socket.get())) {
        spdlog::critical("worker: fd {} is not a SOCK_SEQPACKET unix socket", socket.get());
        return 1;
    }
    WorkerReport report;
    config.report = &report;
    ContextLoop loop(std::move(socket), config);
    const int code = loop.run();
    spdlog::info("context {} end: {}", config.ctx_id, format_counters(report.counters));
    return code;
}

// Every worker is a fork of this process. Symbols its libraries resolve lazily (a PLT slot's
// first call) would be looked up again in every worker, through the hash tables of every loaded
// library (the preloaded driver's LLVM among them), each page of them faulted in anew after the
// fork and the GOT page then copied: 12 % of the CPU of spare workers and workers in a profile of
// back-to-back context starts on lavapipe (perf, DWARF call graphs). The dynamic linker binds
// everything at load only when LD_BIND_NOW is in the environment at exec, so the server runs itself
// again with it; the pid and fds stay. LD_BIND_NOW already set (even empty, which the linker
// ignores) skips this.
void bind_symbols_at_load(char** argv) {
    if (std::getenv("LD_BIND_NOW"))
        return;
    // The binary's own path, not /proc/self/exe: the process name (ps, top, pgrep) comes from
    // the path exec'ed. A binary replaced on disk since (a package upgrade) reads " (deleted)"
    // and is not exec'ed.
    char path[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof(path) - 1)
        return;
    path[n] = '\0';
    if (::access(path, X_OK) != 0 || ::setenv("LD_BIND_NOW", "1", 1) != 0)
        return;
    ::execv(path, argv);
    // Lazy binding only costs the workers' start-up time.
    ::unsetenv("LD_BIND_NOW");
}

} // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "worker") {
        optind = 2;
        return run_single_context(argc, argv);
    }
    bind_symbols_at_load(argv);
    // Before anything is dlopen'ed: the host driver is not among them (startup_code.h).
    const std::vector<vn::server::AddressRange> startup_objects = vn::server::startup_objects();

    enum {
        kSocketFd = 1,
        kSeccompBpf,
        kSeccompPolicy,
        kSeccompLog,
        kSandbox,
        kRlimitAs,
        kRlimitData,
        kTestViolation,
        kTestFault,
        kTestCloneRefused,
        kMaxDeviceMemory,
        kMaxHostMemory,
        kMaxObjects,
        kMaxRings,
        kListen,
        kWorker,
        kDriverPreload,
        kNoSpareWorker,
        kSpareWorkers,
        kLogLevel,
        kLogTarget,
        kHelp,
        kVersion,
    };
    static const option kOptions[] = {
        {"socket-fd", required_argument, nullptr, kSocketFd},
        {"worker-seccomp-bpf", required_argument, nullptr, kSeccompBpf},
        {"worker-seccomp-minijail-policy", required_argument, nullptr, kSeccompPolicy},
        {"worker-seccomp-minijail-log", no_argument, nullptr, kSeccompLog},
        {"sandbox", required_argument, nullptr, kSandbox},
        {"worker-rlimit-as", required_argument, nullptr, kRlimitAs},
        {"worker-rlimit-data", required_argument, nullptr, kRlimitData},
        {"test-worker-seccomp-violation", required_argument, nullptr, kTestViolation},
        {"test-worker-fault", required_argument, nullptr, kTestFault},
        {"test-zygote-clone-refused", no_argument, nullptr, kTestCloneRefused},
        {"context-max-device-memory", required_argument, nullptr, kMaxDeviceMemory},
        {"context-max-host-memory", required_argument, nullptr, kMaxHostMemory},
        {"context-max-objects", required_argument, nullptr, kMaxObjects},
        {"context-max-rings", required_argument, nullptr, kMaxRings},
        {"listen", required_argument, nullptr, kListen},
        {"worker", required_argument, nullptr, kWorker},
        {"driver-preload", optional_argument, nullptr, kDriverPreload},
        {"no-spare-worker", no_argument, nullptr, kNoSpareWorker},
        {"spare-workers", required_argument, nullptr, kSpareWorkers},
        {"log-level", required_argument, nullptr, kLogLevel},
        {"log-target", required_argument, nullptr, kLogTarget},
        {"help", no_argument, nullptr, kHelp},
        {"version", no_argument, nullptr, kVersion},
        {nullptr, 0, nullptr, 0},
    };

    std::optional<int> socket_fd;
    std::string listen_path;
    std::string seccomp_bpf;
    std::string seccomp_policy;
    bool seccomp_log = false;
    std::string sandbox = "on";
    vn::sandbox::JailConfig jail_config;
    std::optional<std::uint32_t> violation_ctx;
    std::optional<std::uint32_t> fault_ctx;
    bool refuse_birth = false;
    vn::decoder::ContextQuotas quotas;
    bool thread_workers = false;
    // auto by default: on NVIDIA's driver 580 (H100) a worker forked from a server that had
    // initialized the driver fails vkCreateInstance (the driver notices the fork), so preloading
    // happens only where every driver is known to be fork-safe (Mesa's; driver_manifests.h).
    std::string driver_preload = "auto";
    // Two, so that a context created right after another still finds one that finished its
    // jail while the other was handed out (forking and jailing one takes about a millisecond).
    unsigned spare_workers = 2;
    auto level = spdlog::level::info;
    auto target = LogTarget::Stderr;
    int opt;
    while ((opt = getopt_long(argc, argv, "", kOptions, nullptr)) != -1) {
        switch (opt) {
        case kSocketFd:
            socket_fd = parse_int(optarg);
            if (!socket_fd) {
                std::fprintf(stderr, "venus-render-server: bad --socket-fd '%s'\n", optarg);
                return kExitUsage;
            }
            break;
        case kSeccompBpf:
            seccomp_bpf = optarg;
            break;
        case kSeccompPolicy:
            seccomp_policy = optarg;
            break;
        case kSeccompLog:
            seccomp_log = true;
            break;
        case kSandbox:
            sandbox = optarg;
            if (sandbox != "on" && sandbox != "log" && sandbox != "off") {
                std::fprintf(stderr, "venus-render-server: --sandbox must be on, log or off\n");
                return kExitUsage;
            }
            break;
        case kRlimitAs:
        case kRlimitData: {
            const auto bytes = parse_u64(optarg);
            if (!bytes || *bytes == 0) {
                std::fprintf(stderr, "venus-render-server: bad rlimit '%s'\n", optarg);
                return kExitUsage;
            }
            (opt == kRlimitAs ? jail_config.rlimit_as : jail_config.rlimit_data) = *bytes;
            break;
        }
        case kMaxDeviceMemory:
        case kMaxHostMemory:
        case kMaxObjects:
        case kMaxRings: {
            const auto value = parse_u64(optarg);
            if (!value) {
                std::fprintf(stderr, "venus-render-server: bad quota '%s'\n", optarg);
                return kExitUsage;
            }
            (opt == kMaxDeviceMemory ? quotas.device_memory
             : opt == kMaxHostMemory ? quotas.host_memory
             : opt == kMaxObjects    ? quotas.objects
                                     : quotas.rings) = *value;
            break;
        }
        case kTestViolation:
        case kTestFault: {
            const auto id = parse_int(optarg);
            if (!id) {
                std::fprintf(stderr, "venus-render-server: bad context id '%s'\n", optarg);
                return kExitUsage;
            }
            (opt == kTestViolation ? violation_ctx : fault_ctx) = static_cast<std::uint32_t>(*id);
            break;
        }
        case kTestCloneRefused:
            refuse_birth = true;
            break;
        case kListen:
            listen_path = optarg;
            break;
        case kWorker:
            if (std::string_view(optarg) == "process") {
                thread_workers = false;
            } else if (std::string_view(optarg) == "thread") {
                thread_workers = true;
            } else {
                std::fprintf(stderr, "venus-render-server: --worker must be process or thread\n");
                return kExitUsage;
            }
            break;
        case kDriverPreload:
            driver_preload = optarg ? optarg : "on";
            if (driver_preload != "auto" && driver_preload != "on" && driver_preload != "off") {
                std::fprintf(stderr,
                             "venus-render-server: --driver-preload must be auto, on or off\n");
                return kExitUsage;
            }
            break;
        case kNoSpareWorker:
            spare_workers = 0;
            break;
        case kSpareWorkers: {
            const auto n = parse_u64(optarg);
            if (!n || *n > 16) {
                std::fprintf(stderr, "venus-render-server: --spare-workers must be 0 to 16\n");
                return kExitUsage;
            }
            spare_workers = static_cast<unsigned>(*n);
            break;
        }
        case kLogLevel: {
            const auto parsed = parse_log_level(optarg);
            if (!parsed) {
                std::fprintf(stderr, "venus-render-server: bad --log-level '%s'\n", optarg);
                return kExitUsage;
            }
            level = *parsed;
            break;
        }
        case kLogTarget: {
            const auto parsed = parse_log_target(optarg);
            if (!parsed) {
                std::fprintf(stderr,
                             "venus-render-server: --log-target must be stderr or syslog\n");
                return kExitUsage;
            }
            target = *parsed;
            break;
        }
        case kHelp:
            print_usage(stdout);
            return 0;
        case kVersion:
            std::printf("venus-render-server %s (render server version %u, virglrenderer 1.x "
                        "protocol)\nallocator: %s\n",
                        VN_SERVER_VERSION, protocol::kRenderServerVersion,
                        vn::server::allocator_description().c_str());
            return 0;
        default:
            print_usage(stderr);
            return kExitUsage;
        }
    }
    if (optind != argc) {
        std::fprintf(stderr, "venus-render-server: unexpected argument '%s'\n", argv[optind]);
        return kExitUsage;
    }
    // virgl_render_server's precedence: policy with log, else the BPF file, else the policy.
    if (sandbox == "off" && (!seccomp_bpf.empty() || !seccomp_policy.empty() || seccomp_log)) {
        // Running workers unconfined when the VMM asked for a seccomp filter would be a silent
        // security downgrade.
        std::fprintf(stderr, "venus-render-server: --sandbox=off contradicts --worker-seccomp-*\n");
        return kExitUsage;
    }
    jail_config.seccomp = sandbox == "off"   ? vn::sandbox::SeccompMode::Off
                          : sandbox == "log" ? vn::sandbox::SeccompMode::Log
                                             : vn::sandbox::SeccompMode::Enforce;
    if (!seccomp_policy.empty() && (seccomp_log || seccomp_bpf.empty())) {
        const auto text = read_text_file(seccomp_policy);
        std::string error = "cannot read it";
        auto policy = text ? vn::sandbox::Policy::parse(*text, error) : std::nullopt;
        if (policy && policy->allowed_syscall_count() == 0) {
            error = "the policy allows no syscalls";
            policy.reset();
        }
        if (policy) {
            jail_config.filter =
                policy->compile(vn::sandbox::native_arch(),
                                seccomp_log ? vn::sandbox::DefaultAction::Trap
                                            : vn::sandbox::DefaultAction::KillProcess,
                                error);
        }
        if (!jail_config.filter) {
            std::fprintf(stderr, "venus-render-server: %s: %s\n", seccomp_policy.c_str(),
                         error.c_str());
            return 1;
        }
        if (seccomp_log)
            jail_config.seccomp = vn::sandbox::SeccompMode::Log;
    } else if (!seccomp_bpf.empty()) {
        std::string error;
        jail_config.filter = vn::sandbox::BpfProgram::from_file(seccomp_bpf, error);
        if (!jail_config.filter) {
            std::fprintf(stderr, "venus-render-server: --worker-seccomp-bpf: %s\n", error.c_str());
            return 1;
        }
    } else if (seccomp_log) {
        std::fprintf(stderr, "venus-render-server: --worker-seccomp-minijail-log needs "
                             "--worker-seccomp-minijail-policy (or use --sandbox=log)\n");
        return kExitUsage;
    }
    if (socket_fd && !listen_path.empty()) {
        std::fprintf(stderr, "venus-render-server: --socket-fd and --listen are exclusive\n");
        return kExitUsage;
    }

    setup_logging(level, target);
    set_syscall_namer([](int nr) -> std::string {
        char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        std::string text = name ? name : "?";
        std::free(name);
        return text;
    });
    // The kernel's bound on a worker's memory, outside the worker's own accounting (which a
    // compromised worker could ignore): RLIMIT_DATA covers the driver's heap and private
    // mappings, where lavapipe and most drivers keep device memory. Shared mappings (memfd-backed
    // host-visible memory, shm blobs) are outside RLIMIT_DATA; only a memory cgroup bounds
    // those (see systemd/README.md).
    if (jail_config.rlimit_data == 0) {
        constexpr std::uint64_t kDriverSlack = std::uint64_t{8} << 30;
        const std::uint64_t sum = quotas.device_memory + quotas.host_memory;
        jail_config.rlimit_data = sum < quotas.device_memory || sum + kDriverSlack < sum
                                      ? ~std::uint64_t{0}
                                      : sum + kDriverSlack;
    }
    // Seccomp violations reach the server with their syscall number (the worker's report).
    vn::sandbox::Jail::report_violations_to(record_violation);
    jail_config.log = [](vn::sandbox::LogLevel log_level, std::string_view message) {
        switch (log_level) {
        case vn::sandbox::LogLevel::Debug:
            spdlog::debug("sandbox: {}", message);
            break;
        case vn::sandbox::LogLevel::Info:
            spdlog::info("sandbox: {}", message);
            break;
        case vn::sandbox::LogLevel::Warn:
            spdlog::warn("sandbox: {}", message);
            break;
        case vn::sandbox::LogLevel::Error:
            spdlog::error("sandbox: {}", message);
            break;
        }
    };
    NoJail no_jail;
    std::optional<SandboxJail> sandbox_jail;
    if (sandbox != "off" && !thread_workers) {
        const auto ns = vn::sandbox::Jail::probe_namespaces();
        if (ns.user && ns.others && ns.pid) {
            spdlog::info("sandbox: workers get user, mount, PID, IPC and network namespaces");
        } else {
            spdlog::warn("sandbox: workers run without {}{}{}namespaces ({}); they still get "
                         "no_new_privs, no capabilities, rlimits and the seccomp filter",
                         ns.user ? "" : "user ", ns.others ? "" : "mount/IPC/network ",
                         ns.pid ? "" : "PID ", ns.detail.empty() ? "not permitted" : ns.detail);
        }
        sandbox_jail.emplace(std::move(jail_config), violation_ctx, fault_ctx, refuse_birth);
    } else if (!thread_workers) {
        spdlog::warn("--sandbox=off: workers run without a jail");
    }
    JailHook& jail = sandbox_jail ? static_cast<JailHook&>(*sandbox_jail) : no_jail;
    spdlog::info("allocator: {}", vn::server::allocator_description());
    bool preloaded = false;
    if (!thread_workers && driver_preload == "on") {
        spdlog::info("driver preload: on (--driver-preload=on)");
        preloaded = preload_host_driver();
    } else if (!thread_workers && driver_preload == "auto") {
        const PreloadChoice choice = choose_driver_preload(find_driver_manifests());
        spdlog::info("driver preload: {} ({})", choice.preload ? "on" : "off", choice.reason);
        if (choice.preload)
            preloaded = preload_host_driver();
    }
    // What the preload's throwaway instance freed goes back to the kernel: every page left in the
    // heap is one more page each fork marks copy-on-write and each worker may fault on.
    if (preloaded) {
        vn::server::release_free_memory();
        // Smaller segments are not worth a mapping of their own.
        constexpr std::size_t kMinRelroBytes = 64 << 10;
        std::string error;
        const auto shared = vn::server::share_relocated_read_only_data(kMinRelroBytes, error);
        std::size_t bytes = 0;
        for (const auto& s : shared)
            bytes += s.bytes;
        spdlog::info("driver preload: relocated read-only data of {} libraries ({} KiB) shared "
                     "with workers instead of copied into each{}{}",
                     shared.size(), bytes >> 10, error.empty() ? "" : "; not all: ", error);
    }
    if (!thread_workers)
        learn_host_memory_types();
    ProcessLauncher process_launcher(jail, spare_workers, quotas);
    process_launcher.set_zygote_preparation([&startup_objects] {
        std::string error;
        const auto mapped = vn::server::map_code_for_forks(startup_objects, error);
        // Only start-up time is lost where it cannot be done.
        spdlog::log(error.empty() ? spdlog::level::debug : spdlog::level::info,
                    "zygote: {} mappings of code and read-only data ({} KiB) copied by fork{}{}",
                    mapped.mappings, mapped.bytes >> 10, error.empty() ? "" : "; not all: ", error);
        // Values every context computes once, computed here instead, and the allocator's cache
        // filled last: each is a write that every fork would otherwise copy a page for.
        (void)vn::decoder::guest_instance_version();
        vn::server::prepare_crash_reporting();
        vn::server::fill_thread_cache();
    });
    ThreadLauncher thread_launcher(quotas);
    WorkerLauncher& launcher =
        thread_workers ? static_cast<WorkerLauncher&>(thread_launcher) : process_launcher;
    if (thread_workers)
        spdlog::warn("thread workers: contexts are not isolated from each other");

    Server server(launcher);
    if (!server.init())
        return 1;

    if (socket_fd) {
        UniqueFd fd(*socket_fd);
        if (!protocol::is_seqpacket_socket(fd.get())) {
            spdlog::critical("--socket-fd {} is not a SOCK_SEQPACKET unix socket", *socket_fd);
            (void)fd.release(); // not ours to close if it is not what we were promised
            return 1;
        }
        ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
        server.add_client(std::move(fd), "client");
    } else if (!listen_path.empty()) {
        UniqueFd fd = listen_on(listen_path);
        if (!fd)
            return 1;
        spdlog::info("listening on {}", listen_path);
        server.add_listener(std::move(fd));
    } else {
        auto fds = systemd_sockets();
        if (fds.empty()) {
            std::fprintf(stderr, "venus-render-server: need --socket-fd, --listen, or systemd "
                                 "socket activation (see --help)\n");
            return kExitUsage;
        }
        for (auto& fd : fds) {
            if (!protocol::is_seqpacket_socket(fd.get())) {
                spdlog::critical("systemd socket {} is not a SOCK_SEQPACKET unix socket", fd.get());
                return 1;
            }
            if (is_listening(fd.get())) {
                const int flags = ::fcntl(fd.get(), F_GETFL);
                ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
                server.add_listener(std::move(fd));
            } else {
                // Accept=yes units hand us one connected socket per instance.
                server.add_client(std::move(fd), "systemd client");
            }
        }
        spdlog::info("socket activation: {} sockets", fds.size());
    }
    const int status = server.run();
    spdlog::default_logger()->flush();
    return status;
}
