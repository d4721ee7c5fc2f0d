// The daemon's command line and connection modes: --socket-fd checks, the refused seccomp options,
// --listen with several isolated VMMs, systemd socket activation, thread workers, and the
// foreground single-context worker.
#include "harness.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

using namespace vn::test;

namespace {

struct ChildResult {
    int status = -1; // exit status, or 128+signal
    std::string output;
};

class Child {
  public:
    // Runs the server with args; `keep` is inherited as the same fd number; `fd3`, if valid,
    // becomes fd 3 (for socket activation).
    Child(std::vector<std::string> args, int keep = -1, int fd3 = -1,
          std::vector<std::string> env = {}) {
        int out[2];
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        m_output.reset(out[0]);
        UniqueFd write_end(out[1]);
        args.insert(args.begin(), VN_TEST_SERVER_PATH);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        m_pid = ::fork();
        REQUIRE(m_pid >= 0);
        if (m_pid == 0) {
            ::dup2(write_end.get(), 1);
            ::dup2(write_end.get(), 2);
            if (keep >= 0)
                ::fcntl(keep, F_SETFD, 0);
            if (fd3 >= 0) {
                ::dup2(fd3, 3);
                ::fcntl(3, F_SETFD, 0);
            }
            for (auto& e : env) {
                if (e == "LISTEN_PID=self")
                    e = "LISTEN_PID=" + std::to_string(::getpid());
                ::putenv(e.data());
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    pid_t pid() const { return m_pid; }

    ChildResult wait(int timeout_ms = 5000) {
        ChildResult result;
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        int status = 0;
        for (;;) {
            drain(result.output);
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid)
                break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(m_pid, SIGKILL);
                ::waitpid(m_pid, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        m_pid = -1;
        drain(result.output);
        result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return result;
    }

  private:
    void drain(std::string& out) {
        char buffer[4096];
        for (;;) {
            pollfd pfd{m_output.get(), POLLIN, 0};
            if (::poll(&pfd, 1, 0) != 1)
                return;
            const ssize_t n = ::read(m_output.get(), buffer, sizeof(buffer));
            if (n <= 0)
                return;
            out.append(buffer, static_cast<std::size_t>(n));
        }
    }

    pid_t m_pid = -1;
    UniqueFd m_output;
};

std::string temp_socket_path(const char* tag) {
    return (std::filesystem::temp_directory_path() /
            ("vn-test-" + std::to_string(::getpid()) + "-" + tag + ".sock"))
        .string();
}

UniqueFd connect_to(const std::string& path, int timeout_ms = 5000) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
            return fd;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return {};
}

ServerPtr adopt_server(UniqueFd fd) {
    vn_proxy_server* raw = nullptr;
    REQUIRE(vn_proxy_server_connect(fd.release(), VN_PROXY_LAYOUT_V1, 0, &raw) == VN_PROXY_OK);
    vn_proxy_server_set_reply_timeout(raw, 5000);
    return ServerPtr(raw);
}

} // namespace

TEST_CASE("help and version options", "[cli][ours]") {
    auto help = Child({"--help"}).wait();
    CHECK(help.status == 0);
    CHECK(help.output.find("--socket-fd") != std::string::npos);
    CHECK(help.output.find("--listen") != std::string::npos);
    auto version = Child({"--version"}).wait();
    CHECK(version.status == 0);
    CHECK(version.output.find("venus-render-server") != std::string::npos);
}

TEST_CASE("seccomp options are refused, never ignored", "[cli][ours]") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
    UniqueFd a(pair[0]), b(pair[1]);
    const std::string fd = std::to_string(b.get());
    for (const auto& opts :
         std::vector<std::vector<std::string>>{{"--worker-seccomp-bpf", "/dev/null"},
                                               {"--worker-seccomp-minijail-policy", "/dev/null"},
                                               {"--worker-seccomp-minijail-log"}}) {
        std::vector<std::string> args = {"--socket-fd", fd};
        args.insert(args.end(), opts.begin(), opts.end());
        auto result = Child(args, b.get()).wait();
        INFO(opts[0] << ": " << result.output);
        CHECK(result.status != 0);
        // An unusable filter (/dev/null) is refused with its reason, never replaced by none.
        CHECK(result.output.find(opts.size() > 1 ? opts[1] : "--worker-seccomp-minijail-policy") !=
              std::string::npos);
    }
}

TEST_CASE("bad command lines are refused", "[cli][ours]") {
    CHECK(Child({"--no-such-option"}).wait().status != 0);
    CHECK(Child({"--socket-fd", "x"}).wait().status != 0);
    CHECK(Child({"--worker=fiber"}).wait().status != 0);
    CHECK(Child({"--log-target=console"}).wait().status != 0);
    CHECK(Child({"--spare-workers=17"}).wait().status != 0);
    CHECK(Child({"--spare-workers=two"}).wait().status != 0);
    CHECK(Child({}).wait().status != 0); // no connection at all
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    UniqueFd a(pair[0]), b(pair[1]);
    auto stream = Child({"--socket-fd", std::to_string(b.get())}, b.get()).wait();
    CHECK(stream.status != 0);
    CHECK(stream.output.find("SOCK_SEQPACKET") != std::string::npos);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    CHECK(Child({"--socket-fd", std::to_string(r.get())}, r.get()).wait().status != 0);
}

TEST_CASE("server exits when its only client leaves", "[cli][ours]") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
    UniqueFd ours_end(pair[0]), theirs(pair[1]);
    Child child({"--socket-fd", std::to_string(theirs.get()), "--log-level=debug"}, theirs.get());
    theirs.reset();
    {
        auto server = adopt_server(std::move(ours_end));
        auto ctx = create_context(server.get(), 1);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    }
    auto result = child.wait();
    CHECK(result.status == 0);
}

TEST_CASE("listen mode serves several VMMs, each isolated", "[cli][ours]") {
    const auto path = temp_socket_path("listen");
    Child child({"--listen", path});
    auto first = adopt_server(connect_to(path));
    auto second = adopt_server(connect_to(path));
    // The same context id in two connections names two different contexts.
    auto a = create_context(first.get(), 1);
    auto b = create_context(second.get(), 1);
    CHECK(fence_round_trip(a.get()) == VN_PROXY_OK);
    CHECK(fence_round_trip(b.get()) == VN_PROXY_OK);
    CHECK(fence_round_trip(b.get()) == VN_PROXY_OK);
    std::uint32_t seqno = 0;
    REQUIRE(vn_proxy_context_retired_seqno(a.get(), 0, &seqno) == VN_PROXY_OK);
    CHECK(seqno == 1);

    // One VMM going away takes its contexts with it, and only them.
    first.reset();
    CHECK(wait_lost(a.get()));
    a.reset();
    CHECK(fence_round_trip(b.get()) == VN_PROXY_OK);
    auto third = adopt_server(connect_to(path));
    auto c = create_context(third.get(), 1);
    CHECK(fence_round_trip(c.get()) == VN_PROXY_OK);

    // A second server on the same path is refused rather than stealing it.
    auto rival = Child({"--listen", path}).wait();
    CHECK(rival.status != 0);
    CHECK(fence_round_trip(c.get()) == VN_PROXY_OK);

    REQUIRE(child.pid() > 0);
    ::kill(child.pid(), SIGTERM);
    auto result = child.wait();
    INFO(result.output);
    CHECK(result.status == 0);
    ::unlink(path.c_str());
}

TEST_CASE("systemd socket activation", "[cli][ours]") {
    const auto path = temp_socket_path("systemd");
    ::unlink(path.c_str());
    UniqueFd listener(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listener.get(), 8) == 0);
    Child child({}, -1, listener.get(), {"LISTEN_FDS=1", "LISTEN_PID=self"});
    listener.reset();
    {
        auto server = adopt_server(connect_to(path));
        auto ctx = create_context(server.get(), 3);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    }
    ::kill(child.pid(), SIGTERM);
    CHECK(child.wait().status == 0);
    ::unlink(path.c_str());
}

TEST_CASE("thread workers serve contexts", "[cli][ours]") {
    RawServer raw(ours(), {"--worker=thread"});
    auto server = adopt_server(UniqueFd(::fcntl(raw.fd(), F_DUPFD_CLOEXEC, 0)));
    std::vector<ContextPtr> contexts;
    for (std::uint32_t id = 1; id <= 6; ++id)
        contexts.push_back(create_context(server.get(), id));
    for (auto& ctx : contexts) {
        const auto stream = trivial_stream(40);
        CHECK(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) == VN_PROXY_OK);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    }
    // A fatal context ends its thread only.
    std::uint32_t bad_op = 99;
    REQUIRE(send_bytes(vn_proxy_context_socket_fd(contexts[0].get()), &bad_op, 4));
    CHECK(wait_lost(contexts[0].get()));
    CHECK(fence_round_trip(contexts[1].get()) == VN_PROXY_OK);
    contexts.clear();
    server.reset();
    CHECK(raw.alive());
}

TEST_CASE("worker --single-context on a socket fd", "[cli][ours]") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
    UniqueFd ours_end(pair[0]), theirs(pair[1]);
    Child child({"worker", "--single-context", "--socket-fd", std::to_string(theirs.get())},
                theirs.get());
    theirs.reset();
    {
        vn_proxy_context* raw = nullptr;
        REQUIRE(vn_proxy_context_adopt(ours_end.release(), VN_PROXY_LAYOUT_V1,
                                       VN_PROXY_CAPSET_VENUS, true, &raw) == VN_PROXY_OK);
        ContextPtr ctx(raw);
        const auto stream = trivial_stream(100);
        CHECK(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) == VN_PROXY_OK);
        vn_proxy_blob blob{};
        REQUIRE(vn_proxy_context_create_resource(ctx.get(), 1, 0, 8192, VN_PROXY_BLOB_FLAG_MAPPABLE,
                                                 &blob) == VN_PROXY_OK);
        UniqueFd blob_fd(blob.fd);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    }
    CHECK(child.wait().status == 0);
}

TEST_CASE("worker --single-context on a socket path", "[cli][ours]") {
    const auto path = temp_socket_path("worker");
    Child child({"worker", "--single-context", "--socket-path", path, "--ctx-id", "9"});
    UniqueFd fd = connect_to(path);
    REQUIRE(fd.valid());
    {
        vn_proxy_context* raw = nullptr;
        REQUIRE(vn_proxy_context_adopt(fd.release(), VN_PROXY_LAYOUT_V1, VN_PROXY_CAPSET_VENUS,
                                       false, &raw) == VN_PROXY_OK);
        ContextPtr ctx(raw);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
        // A fatal op makes the foreground worker exit with an error.
        std::uint32_t bad_op = 99;
        REQUIRE(send_bytes(vn_proxy_context_socket_fd(ctx.get()), &bad_op, 4));
        CHECK(wait_lost(ctx.get()));
    }
    CHECK(child.wait().status == 1);
    CHECK(Child({"worker", "--socket-fd", "3"}).wait().status != 0); // --single-context missing
}

TEST_CASE("driver preload is automatic: on for Mesa's drivers only", "[cli][ours]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("vn-test-icd-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto write = [&](const char* name, const char* text) {
        const auto path = dir / name;
        FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        std::fputs(text, f);
        std::fclose(f);
        return path.string();
    };
    const std::string mesa =
        write("mesa.json", R"({"file_format_version":"1.0.0","ICD":{"library_path":)"
                           R"("/nonexistent/libvulkan_lvp.so","api_version":"1.3.230"}})");
    const std::string other =
        write("other.json", R"({"file_format_version":"1.0.0","ICD":{"library_path":)"
                            R"("libGLX_nvidia.so.0","api_version":"1.4.312"}})");
    const std::string broken = write("broken.json", "{ not json");
    // The server decides before any client; a peer that is already gone then ends it.
    auto decision = [](const std::vector<std::string>& extra, const std::string& files) {
        int pair[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
        UniqueFd ours_end(pair[0]), theirs(pair[1]);
        std::vector<std::string> args{"--socket-fd", std::to_string(theirs.get())};
        args.insert(args.end(), extra.begin(), extra.end());
        Child child(args, theirs.get(), -1, {"VK_DRIVER_FILES=" + files});
        theirs.reset();
        ours_end.reset();
        return child.wait().output;
    };
    CHECK_THAT(decision({}, mesa), Catch::Contains("driver preload: on (every host driver is "
                                                   "Mesa's (libvulkan_lvp.so))"));
    // One driver that is not Mesa's is enough to keep every driver out of the server.
    const auto mixed = decision({}, mesa + ":" + other);
    CHECK_THAT(mixed, Catch::Contains("driver preload: off"));
    CHECK_THAT(mixed, Catch::Contains("names libGLX_nvidia.so.0"));
    CHECK_THAT(decision({}, broken), Catch::Contains("names no library"));
    CHECK_THAT(decision({}, (dir / "missing.json").string()),
               Catch::Contains("driver preload: off (no Vulkan driver manifest found)"));
    // Explicit choices are not second-guessed; off loads nothing and says nothing.
    CHECK_THAT(decision({"--driver-preload=off"}, other), !Catch::Contains("driver preload"));
    CHECK(Child({"--driver-preload=maybe"}).wait().status != 0);
    std::filesystem::remove_all(dir);
}
