// venus-vtest: a vtest server for Mesa's Venus driver (VN_DEBUG=vtest), built on our own stack:
// every client gets a Venus context in a sandboxed venus-render-server worker, reached through
// libvenus-proxy exactly as a VMM reaches it.
#include "context_loop.h"
#include "log.h"
#include "session.h"
#include "venus_proxy.h"
#include "vn/server/protocol/render_protocol.h"
#include "vn/vtest/protocol.h"
#include "vtest_server.h"

#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#ifndef VN_VTEST_VERSION
#define VN_VTEST_VERSION "unknown"
#endif

namespace {

using namespace vn::vtest;

constexpr int kExitUsage = 2;

void print_usage(std::FILE* out) {
    std::fprintf(
        out,
        "Usage: venus-vtest [OPTION]...\n"
        "\n"
        "A vtest server for Mesa's Venus driver: run a Vulkan program with\n"
        "  VN_DEBUG=vtest VK_DRIVER_FILES=<Mesa's virtio_icd.<arch>.json>\n"
        "and it renders through venus-render-server on the host's Vulkan driver, one sandboxed\n"
        "worker per client.\n"
        "\n"
        "  --socket-path PATH   listen here (default: $%s, else %s)\n"
        "  --server PATH        the venus-render-server to run (default:\n"
        "                       $VN_RENDER_SERVER_EXEC_PATH, else the installed one)\n"
        "  --single-context     serve one client with its worker in this process, unsandboxed,\n"
        "                       and exit when it leaves (for gdb: break in the decoder)\n"
        "  --log-level=LEVEL    trace, debug, info (default), warn, error, off\n"
        "  --log-target=TARGET  stderr (default) or syslog\n"
        "  --help               show this text\n"
        "  --version            show the version\n",
        kSocketPathEnv, kDefaultSocketPath);
}

// The spawned render server, shared by every session; respawned if it dies.
class RenderServer {
  public:
    explicit RenderServer(std::string path) : m_path(std::move(path)) {}
    ~RenderServer() {
        if (m_server)
            vn_proxy_server_destroy(m_server);
    }
    RenderServer(const RenderServer&) = delete;
    RenderServer& operator=(const RenderServer&) = delete;

    int spawn() {
        std::lock_guard lock(m_mutex);
        return spawn_locked();
    }

    int create_context(std::uint32_t ctx_id, const std::string& name, vn_proxy_context** out) {
        std::lock_guard lock(m_mutex);
        int result = m_server ? vn_proxy_context_create(m_server, ctx_id, name.c_str(),
                                                        VN_PROXY_CAPSET_VENUS, true, out)
                              : VN_PROXY_ERROR_SERVER_LOST;
        if (result == VN_PROXY_ERROR_SERVER_LOST) {
            spdlog::error("the render server is gone; starting a new one");
            if (spawn_locked() == VN_PROXY_OK)
                result = vn_proxy_context_create(m_server, ctx_id, name.c_str(),
                                                 VN_PROXY_CAPSET_VENUS, true, out);
        }
        return result;
    }

  private:
    int spawn_locked() {
        if (m_server) {
            vn_proxy_server_destroy(m_server);
            m_server = nullptr;
        }
        const int result = vn_proxy_server_spawn(m_path.empty() ? nullptr : m_path.c_str(),
                                                 VN_PROXY_LAYOUT_V1, 0, &m_server);
        if (result != VN_PROXY_OK) {
            m_server = nullptr;
            spdlog::critical("cannot start the render server {}: {}",
                             m_path.empty() ? "(default)" : m_path, vn_proxy_result_string(result));
        } else {
            spdlog::info("render server running (pid {})", vn_proxy_server_pid(m_server));
        }
        return result;
    }

    std::string m_path;
    std::mutex m_mutex;
    vn_proxy_server* m_server = nullptr;
};

// --single-context: the worker's ContextLoop (the same code `venus-render-server worker
// --single-context` runs) serves one end of a socketpair on the main thread; the session adopts
// the other end when the client sends CONTEXT_INIT.
int run_single_context(UniqueFd listener, const std::string& socket_path) {
    spdlog::info("single context: waiting for one client on {}", socket_path);
    UniqueFd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    listener.reset();
    ::unlink(socket_path.c_str());
    if (!client) {
        spdlog::critical("accept: {}", std::strerror(errno));
        return 1;
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        spdlog::critical("socketpair: {}", std::strerror(errno));
        return 1;
    }
    UniqueFd worker_end(pair[0]);
    auto proxy_end = std::make_shared<UniqueFd>(pair[1]);
    Session session(std::move(client), 1,
                    [proxy_end](std::uint32_t, const std::string&, vn_proxy_context** out) {
                        if (!*proxy_end)
                            return static_cast<int>(VN_PROXY_ERROR_INVALID_ARGUMENT);
                        return vn_proxy_context_adopt(proxy_end->release(), VN_PROXY_LAYOUT_V1,
                                                      VN_PROXY_CAPSET_VENUS, true, out);
                    });
    bool clean = false;
    std::thread serving([&] {
        clean = session.run();
        // Without a context the worker still waits on its socket: hang up so that it returns.
        proxy_end->reset();
    });
    vn::server::ContextConfig config;
    config.ctx_id = 1;
    config.name = "venus-vtest";
    config.init_flags =
        vn::server::protocol::kRendererVenus | vn::server::protocol::kRendererNoVirgl;
    int code;
    {
        vn::server::ContextLoop loop(std::move(worker_end), config);
        code = loop.run();
    }
    // The worker is done (the client left, or the context turned fatal): end the session too.
    session.stop();
    serving.join();
    spdlog::info("single context: done (worker status {})", code);
    return clean && code == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    enum { kSocketPath = 1, kServer, kSingle, kLogLevel, kLogTarget, kHelp, kVersion };
    static const option kOptions[] = {
        {"socket-path", required_argument, nullptr, kSocketPath},
        {"server", required_argument, nullptr, kServer},
        {"single-context", no_argument, nullptr, kSingle},
        {"log-level", required_argument, nullptr, kLogLevel},
        {"log-target", required_argument, nullptr, kLogTarget},
        {"help", no_argument, nullptr, kHelp},
        {"version", no_argument, nullptr, kVersion},
        {nullptr, 0, nullptr, 0},
    };
    const char* env_path = std::getenv(kSocketPathEnv);
    std::string socket_path = env_path && *env_path ? env_path : kDefaultSocketPath;
    std::string server_path;
    bool single = false;
    auto level = spdlog::level::info;
    auto target = vn::server::LogTarget::Stderr;
    int opt;
    while ((opt = getopt_long(argc, argv, "", kOptions, nullptr)) != -1) {
        switch (opt) {
        case kSocketPath:
            socket_path = optarg;
            break;
        case kServer:
            server_path = optarg;
            break;
        case kSingle:
            single = true;
            break;
        case kLogLevel: {
            const auto parsed = vn::server::parse_log_level(optarg);
            if (!parsed) {
                std::fprintf(stderr, "venus-vtest: bad --log-level '%s'\n", optarg);
                return kExitUsage;
            }
            level = *parsed;
            break;
        }
        case kLogTarget: {
            const auto parsed = vn::server::parse_log_target(optarg);
            if (!parsed) {
                std::fprintf(stderr, "venus-vtest: --log-target must be stderr or syslog\n");
                return kExitUsage;
            }
            target = *parsed;
            break;
        }
        case kHelp:
            print_usage(stdout);
            return 0;
        case kVersion:
            std::printf("venus-vtest %s (vtest protocol %u, Venus capset %u)\n", VN_VTEST_VERSION,
                        kProtocolVersion, kCapsetVenus);
            return 0;
        default:
            print_usage(stderr);
            return kExitUsage;
        }
    }
    if (optind != argc) {
        std::fprintf(stderr, "venus-vtest: unexpected argument '%s'\n", argv[optind]);
        return kExitUsage;
    }
    if (single && !server_path.empty()) {
        std::fprintf(stderr, "venus-vtest: --single-context runs the worker in this process; "
                             "--server does not apply\n");
        return kExitUsage;
    }
    vn::server::setup_logging(level, target);
    ::signal(SIGPIPE, SIG_IGN);

    UniqueFd listener = listen_stream(socket_path);
    if (!listener)
        return 1;
    if (single)
        return run_single_context(std::move(listener), socket_path);

    RenderServer server(server_path);
    if (server.spawn() != VN_PROXY_OK) {
        ::unlink(socket_path.c_str());
        return 1;
    }
    spdlog::info("listening on {} (clients: {}={} VN_DEBUG=vtest)", socket_path, kSocketPathEnv,
                 socket_path);
    int status;
    {
        VtestServer vtest(
            std::move(listener),
            [&server](std::uint32_t ctx_id, const std::string& name, vn_proxy_context** out) {
                return server.create_context(ctx_id, name, out);
            });
        status = vtest.run();
    }
    ::unlink(socket_path.c_str());
    spdlog::default_logger()->flush();
    return status;
}
