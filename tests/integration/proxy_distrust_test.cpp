// The proxy distrusts the worker and the server: a fake peer on the other end of a socketpair sends
// every kind of wrong reply and fd, and each must become a lost context (or a lost server), with
// no crash and no fd leaked into the VMM.
#include "harness.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <thread>
#include <tuple>

using namespace vn::test;
namespace protocol = vn::server::protocol;

namespace {

struct Pair {
    UniqueFd proxy_end;
    UniqueFd fake_end;
};

Pair seqpacket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Receives one request on the fake side and checks its op.
protocol::Received expect_request(int fd, protocol::ContextOp op) {
    std::byte buffer[512];
    pollfd pfd{fd, POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 5000) == 1);
    auto received = protocol::recv_message(fd, buffer);
    REQUIRE(received.status == protocol::RecvStatus::Ok);
    std::uint32_t got;
    std::memcpy(&got, buffer, sizeof(got));
    REQUIRE(got == static_cast<std::uint32_t>(op));
    return received;
}

// A fake worker answers CREATE_RESOURCE with `reply`; returns the proxy's result.
int create_with_fake_reply(vn_proxy_layout layout, const std::function<void(int fake_fd)>& reply,
                           vn_proxy_blob& blob, vn_proxy_context** out_ctx = nullptr) {
    auto pair = seqpacket_pair();
    const int fake = pair.fake_end.get();
    vn_proxy_context* raw = nullptr;
    REQUIRE(vn_proxy_context_adopt(pair.proxy_end.release(), layout, VN_PROXY_CAPSET_VENUS, true,
                                   &raw) == VN_PROXY_OK);
    ContextPtr ctx(raw);
    vn_proxy_context_set_reply_timeout(ctx.get(), 300);
    auto init = expect_request(fake, protocol::ContextOp::Init);
    CHECK(init.fds.size() == 2);
    int result = VN_PROXY_OK;
    std::thread client([&] {
        result = vn_proxy_context_create_resource(ctx.get(), 1, 0, 4096,
                                                  VN_PROXY_BLOB_FLAG_MAPPABLE, &blob);
    });
    expect_request(fake, protocol::ContextOp::CreateResource);
    reply(fake);
    client.join();
    if (out_ctx)
        *out_ctx = ctx.release();
    return result;
}

protocol::v1::ContextCreateResourceReply shm_reply() {
    protocol::v1::ContextCreateResourceReply reply{};
    reply.fd_type = protocol::FdType::Shm;
    reply.map_info = protocol::kMapCacheCached;
    return reply;
}

} // namespace

TEST_CASE("proxy accepts a well-formed fake worker reply", "[proxy]") {
    // The blob is 4096 bytes. The worker rounds memory up to whole pages and import units, so the
    // fd may be larger than the blob (never smaller), and one it has handed out before carries
    // our seals already.
    const auto [what, size, seals] = GENERATE(
        std::make_tuple("exact size", std::size_t{4096}, unsigned{F_SEAL_SHRINK | F_SEAL_GROW}),
        std::make_tuple("fd larger than the blob", std::size_t{8192},
                        unsigned{F_SEAL_SHRINK | F_SEAL_GROW}),
        std::make_tuple("sealed by us before", std::size_t{4096},
                        unsigned{F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW}));
    INFO(what);
    const int fds_before = count_open_fds();
    {
        vn_proxy_blob blob{};
        vn_proxy_context* raw = nullptr;
        const int result = create_with_fake_reply(
            VN_PROXY_LAYOUT_V1,
            [size = size, seals = seals](int fd) {
                auto memfd = sealed_memfd(size, seals);
                REQUIRE(send_raw(fd, shm_reply(), {memfd.get()}));
            },
            blob, &raw);
        ContextPtr ctx(raw);
        REQUIRE(result == VN_PROXY_OK);
        UniqueFd fd(blob.fd);
        CHECK(blob.fd_type == VN_PROXY_FD_SHM);
        CHECK_FALSE(vn_proxy_context_is_lost(ctx.get()));
    }
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE("proxy turns a misbehaving worker into a lost context", "[proxy][bad-input]") {
    const int fds_before = count_open_fds();
    struct Case {
        const char* what;
        std::function<void(int)> reply;
    };
    const std::vector<Case> cases = {
        {"reply without its fd",
         [](int fd) {
             REQUIRE(send_raw(fd, shm_reply()));
         }},
        {"reply one byte short",
         [](int fd) {
             auto memfd = sealed_memfd(4096, F_SEAL_SHRINK);
             auto reply = shm_reply();
             REQUIRE(send_bytes(fd, &reply, sizeof(reply) - 1, {memfd.get()}));
         }},
        {"reply too long",
         [](int fd) {
             auto memfd = sealed_memfd(4096, F_SEAL_SHRINK);
             std::byte big[200] = {};
             auto reply = shm_reply();
             std::memcpy(big, &reply, sizeof(reply));
             REQUIRE(send_bytes(fd, big, sizeof(big), {memfd.get()}));
         }},
        {"two fds",
         [](int fd) {
             auto a = sealed_memfd(4096, F_SEAL_SHRINK), b = sealed_memfd(4096, F_SEAL_SHRINK);
             REQUIRE(send_raw(fd, shm_reply(), {a.get(), b.get()}));
         }},
        {"INVALID with an fd",
         [](int fd) {
             auto memfd = sealed_memfd(4096, 0);
             auto reply = shm_reply();
             reply.fd_type = protocol::FdType::Invalid;
             REQUIRE(send_raw(fd, reply, {memfd.get()}));
         }},
        {"SHM that is a pipe",
         [](int fd) {
             int p[2];
             REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
             UniqueFd r(p[0]), w(p[1]);
             REQUIRE(send_raw(fd, shm_reply(), {r.get()}));
         }},
        {"SHM that is an eventfd",
         [](int fd) {
             UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
             REQUIRE(send_raw(fd, shm_reply(), {efd.get()}));
         }},
        {"SHM smaller than the blob",
         [](int fd) {
             auto memfd = sealed_memfd(1024, 0);
             REQUIRE(send_raw(fd, shm_reply(), {memfd.get()}));
         }},
        {"SHM already sealed against further seals",
         [](int fd) {
             auto memfd = sealed_memfd(4096, F_SEAL_SEAL);
             REQUIRE(send_raw(fd, shm_reply(), {memfd.get()}));
         }},
        {"SHM write-sealed",
         [](int fd) {
             auto memfd = sealed_memfd(4096, F_SEAL_WRITE);
             REQUIRE(send_raw(fd, shm_reply(), {memfd.get()}));
         }},
        {"SHM that is not a memfd (no sealing)",
         [](int fd) {
             char path[] = "/tmp/vn-proxy-test-XXXXXX";
             UniqueFd file(::mkostemp(path, O_CLOEXEC));
             REQUIRE(file.valid());
             ::unlink(path);
             REQUIRE(::ftruncate(file.get(), 4096) == 0);
             REQUIRE(send_raw(fd, shm_reply(), {file.get()}));
         }},
        {"DMABUF that is a memfd",
         [](int fd) {
             auto memfd = sealed_memfd(4096, 0);
             auto reply = shm_reply();
             reply.fd_type = protocol::FdType::DmaBuf;
             REQUIRE(send_raw(fd, reply, {memfd.get()}));
         }},
        {"OPAQUE that is a socket",
         [](int fd) {
             auto pair = seqpacket_pair();
             auto reply = shm_reply();
             reply.fd_type = protocol::FdType::Opaque;
             REQUIRE(send_raw(fd, reply, {pair.fake_end.get()}));
         }},
        {"unknown fd type",
         [](int fd) {
             auto memfd = sealed_memfd(4096, 0);
             auto reply = shm_reply();
             reply.fd_type = static_cast<protocol::FdType>(42);
             REQUIRE(send_raw(fd, reply, {memfd.get()}));
         }},
        {"garbage map_info",
         [](int fd) {
             auto memfd = sealed_memfd(4096, 0);
             auto reply = shm_reply();
             reply.map_info = 0xdead;
             REQUIRE(send_raw(fd, reply, {memfd.get()}));
         }},
        {"worker hangs up instead of replying",
         [](int fd) {
             ::shutdown(fd, SHUT_RDWR);
         }},
        {"worker never replies",
         [](int) {
         }},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        vn_proxy_blob blob{};
        blob.fd = -1;
        vn_proxy_context* raw = nullptr;
        const int result = create_with_fake_reply(VN_PROXY_LAYOUT_V1, c.reply, blob, &raw);
        ContextPtr ctx(raw);
        CHECK(result == VN_PROXY_ERROR_CONTEXT_LOST);
        CHECK(blob.fd == -1);
        CHECK(vn_proxy_context_is_lost(ctx.get()));
        const auto stream = trivial_stream(1);
        CHECK(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) ==
              VN_PROXY_ERROR_CONTEXT_LOST);
    }
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE("proxy checks 0.10-layout replies too", "[proxy][bad-input]") {
    const int fds_before = count_open_fds();
    {
        vn_proxy_blob blob{};
        // A 1.x-sized reply on a 0.10 connection is a size mismatch.
        CHECK(create_with_fake_reply(
                  VN_PROXY_LAYOUT_V0_10,
                  [](int fd) {
                      auto memfd = sealed_memfd(4096, 0);
                      REQUIRE(send_raw(fd, shm_reply(), {memfd.get()}));
                  },
                  blob) == VN_PROXY_ERROR_CONTEXT_LOST);
        vn_proxy_context* raw = nullptr;
        CHECK(create_with_fake_reply(
                  VN_PROXY_LAYOUT_V0_10,
                  [](int fd) {
                      auto memfd = sealed_memfd(4096, 0);
                      protocol::v0_10::ContextCreateResourceReply reply{protocol::FdType::Shm, 1};
                      REQUIRE(send_raw(fd, reply, {memfd.get()}));
                  },
                  blob, &raw) == VN_PROXY_OK);
        ContextPtr ctx(raw);
        UniqueFd fd(blob.fd);
    }
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE("proxy checks the 0.10 SUBMIT_CMD reply", "[proxy][bad-input]") {
    auto pair = seqpacket_pair();
    const int fake = pair.fake_end.get();
    vn_proxy_context* raw = nullptr;
    REQUIRE(vn_proxy_context_adopt(pair.proxy_end.release(), VN_PROXY_LAYOUT_V0_10,
                                   VN_PROXY_CAPSET_VENUS, false, &raw) == VN_PROXY_OK);
    ContextPtr ctx(raw);
    expect_request(fake, protocol::ContextOp::Init);
    const auto stream = trivial_stream(1);
    auto submit_with_reply = [&](std::uint8_t value) {
        int result = VN_PROXY_OK;
        std::thread client(
            [&] { result = vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()); });
        auto req = expect_request(fake, protocol::ContextOp::SubmitCmd);
        CHECK(req.size == sizeof(protocol::v0_10::ContextSubmitCmdRequest));
        REQUIRE(send_bytes(fake, &value, 1));
        client.join();
        return result;
    };
    CHECK(submit_with_reply(1) == VN_PROXY_OK);
    CHECK(submit_with_reply(0) == VN_PROXY_ERROR_REFUSED);
    CHECK(submit_with_reply(7) == VN_PROXY_ERROR_CONTEXT_LOST);
}

TEST_CASE("proxy turns a misbehaving server into a lost server", "[proxy][bad-input]") {
    const int fds_before = count_open_fds();
    struct Case {
        const char* what;
        std::function<void(int)> reply;
        int expected;
    };
    const std::vector<Case> cases = {
        {"ok without an fd", [](int fd) { REQUIRE(send_bytes(fd, "\x01", 1)); },
         VN_PROXY_ERROR_SERVER_LOST},
        {"refusal with an fd",
         [](int fd) {
             auto pair = seqpacket_pair();
             REQUIRE(send_bytes(fd, "\x00", 1, {pair.fake_end.get()}));
         },
         VN_PROXY_ERROR_SERVER_LOST},
        {"ok with a pipe",
         [](int fd) {
             int p[2];
             REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
             UniqueFd r(p[0]), w(p[1]);
             REQUIRE(send_bytes(fd, "\x01", 1, {r.get()}));
         },
         VN_PROXY_ERROR_SERVER_LOST},
        {"ok with a stream socket",
         [](int fd) {
             int p[2];
             REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0);
             UniqueFd a(p[0]), b(p[1]);
             REQUIRE(send_bytes(fd, "\x01", 1, {a.get()}));
         },
         VN_PROXY_ERROR_SERVER_LOST},
        {"two-byte reply",
         [](int fd) {
             auto pair = seqpacket_pair();
             REQUIRE(send_bytes(fd, "\x01\x00", 2, {pair.fake_end.get()}));
         },
         VN_PROXY_ERROR_SERVER_LOST},
        {"bool that is not 0 or 1", [](int fd) { REQUIRE(send_bytes(fd, "\x02", 1)); },
         VN_PROXY_ERROR_SERVER_LOST},
        {"server hangs up", [](int fd) { ::shutdown(fd, SHUT_RDWR); }, VN_PROXY_ERROR_SERVER_LOST},
        {"server stays silent (0.10 on failure)", [](int) {}, VN_PROXY_ERROR_SERVER_LOST},
        {"clean refusal", [](int fd) { REQUIRE(send_bytes(fd, "\x00", 1)); },
         VN_PROXY_ERROR_REFUSED},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        auto pair = seqpacket_pair();
        const int fake = pair.fake_end.get();
        vn_proxy_server* raw = nullptr;
        REQUIRE(vn_proxy_server_connect(pair.proxy_end.release(), VN_PROXY_LAYOUT_V1, 0, &raw) ==
                VN_PROXY_OK);
        ServerPtr server(raw);
        vn_proxy_server_set_reply_timeout(server.get(), 300);
        std::byte buffer[64];
        REQUIRE(protocol::recv_message(fake, buffer).size == sizeof(protocol::ClientInitRequest));
        int result = VN_PROXY_OK;
        vn_proxy_context* ctx = nullptr;
        std::thread client([&] {
            result =
                vn_proxy_context_create(server.get(), 1, "x", VN_PROXY_CAPSET_VENUS, false, &ctx);
        });
        auto req = protocol::recv_message(fake, buffer);
        CHECK(req.size == sizeof(protocol::ClientCreateContextRequest));
        c.reply(fake);
        client.join();
        CHECK(result == c.expected);
        CHECK(ctx == nullptr);
        if (c.expected == VN_PROXY_ERROR_SERVER_LOST) {
            CHECK(vn_proxy_context_create(server.get(), 2, "y", VN_PROXY_CAPSET_VENUS, false,
                                          &ctx) == VN_PROXY_ERROR_SERVER_LOST);
        }
    }
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE("proxy refuses bad arguments without sending", "[proxy]") {
    vn_proxy_server* server = nullptr;
    CHECK(vn_proxy_server_spawn("/nonexistent/venus-render-server", VN_PROXY_LAYOUT_V1, 0,
                                &server) == VN_PROXY_ERROR_SERVER_LOST);
    CHECK(server == nullptr);
    CHECK(vn_proxy_server_connect(-1, VN_PROXY_LAYOUT_V1, 0, &server) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd w(p[1]);
    // Not a SEQPACKET socket: refused, and the fd (owned by the call) is closed.
    CHECK(vn_proxy_server_connect(p[0], VN_PROXY_LAYOUT_V1, 0, &server) ==
          VN_PROXY_ERROR_SERVER_LOST);
    CHECK(::fcntl(p[0], F_GETFD) == -1);

    auto live = spawn(ours());
    auto ctx = create_context(live.get(), 1);
    std::uint32_t seqno;
    CHECK(vn_proxy_context_submit_fence(ctx.get(), VN_PROXY_RING_COUNT, &seqno) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    auto unsealed = sealed_memfd(4096, 0);
    CHECK(vn_proxy_context_import_resource(ctx.get(), 3, VN_PROXY_FD_SHM, unsealed.get(), 4096) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    auto small = sealed_memfd(1024, F_SEAL_SHRINK);
    CHECK(vn_proxy_context_import_resource(ctx.get(), 3, VN_PROXY_FD_SHM, small.get(), 4096) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    CHECK(vn_proxy_context_import_resource(ctx.get(), 3, VN_PROXY_FD_DMABUF, small.get(), 1024) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    CHECK(vn_proxy_context_create(live.get(), 0, "zero", VN_PROXY_CAPSET_VENUS, false,
                                  reinterpret_cast<vn_proxy_context**>(&server)) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
}

TEST_CASE("a spawned server inherits only its socket and stdio", "[proxy]") {
    int p[2];
    REQUIRE(::pipe(p) == 0); // deliberately not close-on-exec, as a careless VMM might
    UniqueFd r(p[0]), w(p[1]);
    auto server = spawn(ours());
    auto ctx = create_context(server.get(), 1); // the server is up and serving
    // stdin, stdout, stderr, the socket, the server's own signalfd, its ends of the sockets of
    // the two spare workers it keeps forked ahead of time and of the zygote's that forks them;
    // and where user namespaces work, the workers' shared network and IPC namespaces and the
    // user namespace that owns them.
    const pid_t pid = vn_proxy_server_pid(server.get());
    int namespaces = 0;
    std::string fds;
    for (int fd = 0; fd < 300; ++fd) {
        char target[256] = {};
        const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
        if (::readlink(link.c_str(), target, sizeof(target) - 1) > 0) {
            fds += std::to_string(fd) + "->" + target + " ";
            const std::string t = target;
            namespaces +=
                t.rfind("user:[", 0) == 0 || t.rfind("net:[", 0) == 0 || t.rfind("ipc:[", 0) == 0
                    ? 1
                    : 0;
        }
    }
    INFO("server fds: " << fds);
    CHECK((namespaces == 0 || namespaces == 3));
    CHECK(settled_fd_count(pid) == 8 + namespaces);
}
