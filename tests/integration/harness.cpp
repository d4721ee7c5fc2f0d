#include "harness.h"

#include <catch2/catch.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace vn::test {

namespace protocol = server::protocol;

namespace {
constexpr const char* kDebianServer = "/usr/libexec/virgl_render_server";

void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(v));
}
void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(v));
}
} // namespace

Backend ours() {
    return {"venus-render-server", VN_TEST_SERVER_PATH, VN_PROXY_LAYOUT_V1, {}};
}

Backend debian() {
    return {"virgl_render_server", kDebianServer, VN_PROXY_LAYOUT_V0_10, {}};
}

bool debian_available() {
    if (const char* skip = std::getenv("VN_TEST_SKIP_VIRGL"); skip && *skip == '1')
        return false;
    return ::access(kDebianServer, X_OK) == 0;
}

std::vector<std::byte> empty_stream() {
    return {};
}

std::vector<std::byte> trivial_stream(std::size_t count) {
    constexpr std::uint32_t kEnumerateInstanceVersion = 137; // VK_COMMAND_TYPE_..._EXT
    std::vector<std::byte> out;
    for (std::size_t i = 0; i < count; ++i) {
        put_u32(out, kEnumerateInstanceVersion);
        put_u32(out, 0); // no VK_COMMAND_GENERATE_REPLY_BIT_EXT: no reply stream needed
        put_u64(out, 1); // pApiVersion: non-null pointer marker
    }
    return out;
}

std::vector<std::byte> invalid_stream() {
    std::vector<std::byte> out;
    put_u32(out, 0x7fffffff); // no such command type
    put_u32(out, 0);
    return out;
}

int count_open_fds() {
    return count_process_fds(::getpid());
}

int count_process_fds(pid_t pid) {
    int count = 0;
    const std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = ::opendir(path.c_str());
    if (!dir)
        return -1;
    while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.')
            ++count;
    }
    ::closedir(dir);
    // Reading our own fd directory costs one fd of its own.
    return pid == ::getpid() ? count - 1 : count;
}

std::vector<pid_t> child_pids(pid_t parent) {
    std::vector<pid_t> pids;
    DIR* dir = ::opendir("/proc");
    if (!dir)
        return pids;
    while (dirent* entry = ::readdir(dir)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0)
            continue;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        if (!std::getline(stat, line))
            continue;
        // comm may hold spaces; the fields after the last ')' are fixed.
        const auto close = line.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream rest(line.substr(close + 2));
        char state;
        pid_t ppid;
        rest >> state >> ppid;
        if (ppid == parent && state != 'Z')
            pids.push_back(pid);
    }
    ::closedir(dir);
    return pids;
}

bool process_alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

namespace {

std::string process_name(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

} // namespace

WorkerProcess find_context_worker(pid_t server, std::uint32_t ctx_id, int timeout_ms) {
    const std::string name = "vn-ctx-" + std::to_string(ctx_id);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    do {
        for (const pid_t child : child_pids(server)) {
            const auto inner = child_pids(child);
            // A reaper has exactly one child. The worker renames itself once it has its context,
            // so its name is the one to match; a reaper may still carry the spare's name.
            if (inner.size() == 1 && process_name(inner[0]) == name)
                return {child, inner[0]};
            if (inner.empty() && process_name(child) == name)
                return {child, child};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    } while (std::chrono::steady_clock::now() < deadline);
    return {};
}

int settled_fd_count(pid_t pid) {
    int last = count_process_fds(pid);
    for (int stable = 0, i = 0; stable < 10 && i < 400; ++i) {
        ::usleep(2000);
        const int now = count_process_fds(pid);
        stable = now == last ? stable + 1 : 0;
        last = now;
    }
    return last;
}

ServerPtr spawn(const Backend& backend) {
    vn_proxy_server* server = nullptr;
    const int result = vn_proxy_server_spawn(backend.path.c_str(), backend.layout, 0, &server);
    INFO("spawning " << backend.path << ": " << vn_proxy_result_string(result));
    REQUIRE(result == VN_PROXY_OK);
    vn_proxy_server_set_reply_timeout(server, 5000);
    return ServerPtr(server);
}

ContextPtr create_context(vn_proxy_server* server, std::uint32_t ctx_id, bool eventfd) {
    vn_proxy_context* ctx = nullptr;
    const std::string name = "test-" + std::to_string(ctx_id);
    const int result =
        vn_proxy_context_create(server, ctx_id, name.c_str(), VN_PROXY_CAPSET_VENUS, eventfd, &ctx);
    INFO("creating context " << ctx_id << ": " << vn_proxy_result_string(result));
    REQUIRE(result == VN_PROXY_OK);
    return ContextPtr(ctx);
}

int fence_round_trip(vn_proxy_context* ctx, std::uint32_t ring, int timeout_ms) {
    std::uint32_t seqno = 0;
    const int result = vn_proxy_context_submit_fence(ctx, ring, &seqno);
    if (result != VN_PROXY_OK)
        return result;
    return vn_proxy_context_wait_fence(ctx, ring, seqno, timeout_ms);
}

bool wait_lost(vn_proxy_context* ctx, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (vn_proxy_context_check(ctx) == VN_PROXY_ERROR_CONTEXT_LOST)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

bool send_bytes(int fd, const void* data, std::size_t size, std::vector<int> fds) {
    return protocol::send_message(fd, std::span(static_cast<const std::byte*>(data), size), fds);
}

bool wait_hangup(int fd, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0)
            return false;
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left)) <= 0)
            continue;
        if (pfd.revents & (POLLHUP | POLLERR))
            return true;
        // Drain replies that were in flight; EOF is what we wait for.
        std::byte buffer[512];
        auto received = protocol::recv_message(fd, buffer, MSG_DONTWAIT);
        if (received.status == protocol::RecvStatus::Closed)
            return true;
    }
}

UniqueFd sealed_memfd(std::size_t size, unsigned seals) {
    UniqueFd fd(::memfd_create("vn-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    REQUIRE(fd.valid());
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
    if (seals)
        REQUIRE(::fcntl(fd.get(), F_ADD_SEALS, seals) == 0);
    return fd;
}

RawServer::RawServer(const Backend& backend, std::vector<std::string> extra_args) {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
    m_fd.reset(pair[0]);
    UniqueFd theirs(pair[1]);
    std::vector<std::string> args = {backend.path, "--socket-fd", std::to_string(theirs.get())};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    m_pid = ::fork();
    REQUIRE(m_pid >= 0);
    if (m_pid == 0) {
        ::fcntl(theirs.get(), F_SETFD, 0);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
}

RawServer::~RawServer() {
    m_fd.reset();
    // The server exits once its client is gone; give it a moment, then make sure.
    for (int i = 0; i < 200; ++i) {
        if (::waitpid(m_pid, nullptr, WNOHANG) == m_pid)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::kill(m_pid, SIGKILL);
    ::waitpid(m_pid, nullptr, 0);
}

bool RawServer::alive() {
    int status;
    return ::waitpid(m_pid, &status, WNOHANG) == 0;
}

void RawServer::init() {
    protocol::ClientInitRequest req{};
    req.header.op = protocol::ClientOp::Init;
    req.flags = protocol::kRendererVenus | protocol::kRendererNoVirgl;
    REQUIRE(send_raw(m_fd.get(), req));
}

UniqueFd RawServer::create_context(std::uint32_t ctx_id, int timeout_ms) {
    protocol::ClientCreateContextRequest req{};
    req.header.op = protocol::ClientOp::CreateContext;
    req.ctx_id = ctx_id;
    std::snprintf(req.ctx_name, sizeof(req.ctx_name), "raw-%u", ctx_id);
    REQUIRE(send_raw(m_fd.get(), req));
    pollfd pfd{m_fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) != 1)
        return {};
    std::byte buffer[8];
    auto received = protocol::recv_message(m_fd.get(), buffer);
    if (received.status != protocol::RecvStatus::Ok || received.size != 1 ||
        buffer[0] != std::byte{1} || received.fds.size() != 1)
        return {};
    return std::move(received.fds[0]);
}

void RawServer::destroy_context(std::uint32_t ctx_id) {
    protocol::ClientDestroyContextRequest req{};
    req.header.op = protocol::ClientOp::DestroyContext;
    req.ctx_id = ctx_id;
    REQUIRE(send_raw(m_fd.get(), req));
}

bool raw_context_init(RawContext& ctx, std::uint32_t rings) {
    ctx.shmem = sealed_memfd(rings * 4, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    protocol::ContextInitRequest req{};
    req.header.op = protocol::ContextOp::Init;
    req.flags = protocol::kCapsetVenus;
    req.shmem_size = rings * 4;
    return send_raw(ctx.socket.get(), req, {ctx.shmem.get()});
}

} // namespace vn::test
