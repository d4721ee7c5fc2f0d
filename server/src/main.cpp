// venus-render-server: command line compatible with virglrenderer's virgl_render_server
// (`--socket-fd N` and the `--worker-seccomp-*` options), plus a listening mode, systemd socket
// activation, and a foreground single-context worker for debugging.
#include "context_loop.h"
#include "log.h"
#include "server.h"
#include "vn/server/protocol/seqpacket.h"
#include "worker.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#ifndef VN_SERVER_VERSION
#define VN_SERVER_VERSION "unknown"
#endif

namespace {

using namespace vn::server;
using vn::server::protocol::UniqueFd;

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
             "  --worker-seccomp-bpf PATH, --worker-seccomp-minijail-policy PATH,\n"
             "  --worker-seccomp-minijail-log\n"
             "                         accepted for compatibility, but refused: the worker\n"
             "                         sandbox is not implemented yet\n"
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
    ContextLoop loop(std::move(socket), config);
    return loop.run();
}

} // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "worker") {
        optind = 2;
        return run_single_context(argc, argv);
    }

    enum {
        kSocketFd = 1,
        kSeccompBpf,
        kSeccompPolicy,
        kSeccompLog,
        kListen,
        kWorker,
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
        {"listen", required_argument, nullptr, kListen},
        {"worker", required_argument, nullptr, kWorker},
        {"log-level", required_argument, nullptr, kLogLevel},
        {"log-target", required_argument, nullptr, kLogTarget},
        {"help", no_argument, nullptr, kHelp},
        {"version", no_argument, nullptr, kVersion},
        {nullptr, 0, nullptr, 0},
    };

    std::optional<int> socket_fd;
    std::string listen_path;
    std::vector<std::string> seccomp_options;
    bool thread_workers = false;
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
            seccomp_options.emplace_back("--worker-seccomp-bpf");
            break;
        case kSeccompPolicy:
            seccomp_options.emplace_back("--worker-seccomp-minijail-policy");
            break;
        case kSeccompLog:
            seccomp_options.emplace_back("--worker-seccomp-minijail-log");
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
                        "protocol)\n",
                        VN_SERVER_VERSION, protocol::kRenderServerVersion);
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
    if (!seccomp_options.empty()) {
        // Running workers unconfined when the VMM asked for a seccomp filter would be a silent
        // security downgrade; refuse instead, as virgl_render_server does without minijail.
        std::fprintf(stderr,
                     "venus-render-server: %s: worker seccomp filtering is not implemented yet; "
                     "refusing to run workers without the requested sandbox\n",
                     seccomp_options.front().c_str());
        return 1;
    }
    if (socket_fd && !listen_path.empty()) {
        std::fprintf(stderr, "venus-render-server: --socket-fd and --listen are exclusive\n");
        return kExitUsage;
    }

    setup_logging(level, target);
    NoJail jail;
    ProcessLauncher process_launcher(jail);
    ThreadLauncher thread_launcher;
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
