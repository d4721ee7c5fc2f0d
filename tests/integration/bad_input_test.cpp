// Bad input from the VMM side, sent on raw sockets because the proxy never sends it. Each case must
// end only what it concerns (the one context, or the one message), leak no fd, and leave every
// other context and the server running.
#include "harness.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

using namespace vn::test;
namespace protocol = vn::server::protocol;

namespace {

struct BadMessage {
    const char* what;
    std::vector<std::byte> bytes;
    int fd_count = 0; // fds to attach (memfds)
};

template <typename T>
std::vector<std::byte> bytes_of(const T& value) {
    std::vector<std::byte> out(sizeof(T));
    std::memcpy(out.data(), &value, sizeof(T));
    return out;
}

std::vector<std::byte> op_only(std::uint32_t op, std::size_t size) {
    std::vector<std::byte> out(size);
    std::memcpy(out.data(), &op, std::min(size, sizeof(op)));
    return out;
}

// Context-op messages that both virglrenderer 1.x/0.10 and our worker treat as fatal.
std::vector<BadMessage> fatal_context_messages() {
    std::vector<BadMessage> cases;
    cases.push_back({"unknown op 7", op_only(7, 4)});
    cases.push_back({"unknown op 0xffffffff", op_only(0xffffffffu, 16)});
    cases.push_back({"NOP of 8 bytes", op_only(0, 8)});
    cases.push_back({"SUBMIT_FENCE of 12 bytes", op_only(6, 12)});
    cases.push_back({"DESTROY_RESOURCE of 4 bytes", op_only(4, 4)});
    cases.push_back({"datagram of 2000 bytes", op_only(0, 2000)});
    cases.push_back({"NOP with an fd", op_only(0, 4), 1});
    cases.push_back({"CREATE_RESOURCE with an fd", op_only(2, 32), 1});
    {
        protocol::ContextImportResourceRequest req{};
        req.header.op = protocol::ContextOp::ImportResource;
        req.res_id = 77;
        req.fd_type = protocol::FdType::Shm;
        req.size = 4096;
        cases.push_back({"IMPORT_RESOURCE without its fd", bytes_of(req)});
        cases.push_back({"IMPORT_RESOURCE with two fds", bytes_of(req), 2});
    }
    cases.push_back({"message of 9 fds", op_only(0, 4), 9});
    return cases;
}

void send_bad(int fd, const BadMessage& message) {
    std::vector<UniqueFd> owned;
    std::vector<int> fds;
    for (int i = 0; i < message.fd_count; ++i) {
        owned.push_back(sealed_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW));
        fds.push_back(owned.back().get());
    }
    // More than 8 fds cannot go in one message through our helper; build it by hand.
    if (fds.size() > protocol::kMaxFdsPerMessage) {
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)] = {};
        iovec iov{const_cast<std::byte*>(message.bytes.data()), message.bytes.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
        REQUIRE(::sendmsg(fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(message.bytes.size()));
        return;
    }
    REQUIRE(send_bytes(fd, message.bytes.data(), message.bytes.size(), fds));
}

void bad_context_ops(const Backend& backend) {
    const int fds_before = count_open_fds();
    {
        auto server = spawn(backend);
        auto bystander = create_context(server.get(), 1000);
        std::uint32_t next_id = 1;
        for (const auto& message : fatal_context_messages()) {
            INFO(backend.name << ": " << message.what);
            auto victim = create_context(server.get(), next_id++);
            REQUIRE(fence_round_trip(victim.get()) == VN_PROXY_OK);
            send_bad(vn_proxy_context_socket_fd(victim.get()), message);
            CHECK(wait_lost(victim.get()));
            // Every later call on the lost context reports it, and nothing crashes.
            std::uint32_t seqno;
            CHECK(vn_proxy_context_submit_fence(victim.get(), 0, &seqno) ==
                  VN_PROXY_ERROR_CONTEXT_LOST);
            CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
        }
        // The server still creates contexts.
        auto after = create_context(server.get(), next_id++);
        CHECK(fence_round_trip(after.get()) == VN_PROXY_OK);
    }
    CHECK(count_open_fds() == fds_before);
}

void split_payload_mismatch(const Backend& backend) {
    auto server = spawn(backend);
    auto bystander = create_context(server.get(), 100);
    SECTION("second datagram shorter than announced") {
        auto victim = create_context(server.get(), 1);
        const int fd = vn_proxy_context_socket_fd(victim.get());
        const auto stream = trivial_stream(32); // 512 bytes announced
        if (backend.layout == VN_PROXY_LAYOUT_V1) {
            protocol::v1::ContextSubmitCmdRequest req{};
            req.header.op = protocol::ContextOp::SubmitCmd;
            req.size = static_cast<std::uint32_t>(stream.size());
            std::memcpy(req.cmd, stream.data(), sizeof(req.cmd));
            REQUIRE(send_raw(fd, req));
        } else {
            protocol::v0_10::ContextSubmitCmdRequest req{};
            req.header.op = protocol::ContextOp::SubmitCmd;
            req.size = stream.size();
            std::memcpy(req.cmd, stream.data(), sizeof(req.cmd));
            REQUIRE(send_raw(fd, req));
        }
        REQUIRE(send_bytes(fd, stream.data() + 256, 100));
        CHECK(wait_lost(victim.get()));
    }
    SECTION("second datagram longer than announced") {
        auto victim = create_context(server.get(), 2);
        const int fd = vn_proxy_context_socket_fd(victim.get());
        const auto stream = trivial_stream(32);
        if (backend.layout == VN_PROXY_LAYOUT_V1) {
            protocol::v1::ContextSubmitCmdRequest req{};
            req.header.op = protocol::ContextOp::SubmitCmd;
            req.size = 300;
            std::memcpy(req.cmd, stream.data(), sizeof(req.cmd));
            REQUIRE(send_raw(fd, req));
        } else {
            protocol::v0_10::ContextSubmitCmdRequest req{};
            req.header.op = protocol::ContextOp::SubmitCmd;
            req.size = 300;
            std::memcpy(req.cmd, stream.data(), sizeof(req.cmd));
            REQUIRE(send_raw(fd, req));
        }
        REQUIRE(send_bytes(fd, stream.data() + 256, 256));
        CHECK(wait_lost(victim.get()));
    }
    CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
}

void init_without_fds(const Backend& backend) {
    RawServer server(backend);
    server.init();
    RawContext bystander{server.create_context(1), {}};
    REQUIRE(bystander.socket.valid());
    REQUIRE(raw_context_init(bystander));

    UniqueFd victim = server.create_context(2);
    REQUIRE(victim.valid());
    protocol::ContextInitRequest req{};
    req.header.op = protocol::ContextOp::Init;
    req.flags = protocol::kCapsetVenus;
    req.shmem_size = 256;
    REQUIRE(send_raw(victim.get(), req));
    CHECK(wait_hangup(victim.get()));

    UniqueFd three_fds = server.create_context(3);
    REQUIRE(three_fds.valid());
    auto a = sealed_memfd(256, F_SEAL_SHRINK), b = sealed_memfd(256, 0), c = sealed_memfd(256, 0);
    REQUIRE(send_raw(three_fds.get(), req, {a.get(), b.get(), c.get()}));
    CHECK(wait_hangup(three_fds.get()));

    CHECK(server.alive());
    protocol::ContextSubmitFenceRequest fence{};
    fence.header.op = protocol::ContextOp::SubmitFence;
    fence.flags = protocol::kFenceFlagMergeable;
    fence.seqno = 9;
    REQUIRE(send_raw(bystander.socket.get(), fence));
    void* map = ::mmap(nullptr, 256, PROT_READ, MAP_SHARED, bystander.shmem.get(), 0);
    REQUIRE(map != MAP_FAILED);
    bool seen = false;
    for (int i = 0; i < 2000 && !seen; ++i) {
        seen = __atomic_load_n(static_cast<std::uint32_t*>(map), __ATOMIC_ACQUIRE) == 9;
        if (!seen)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::munmap(map, 256);
    CHECK(seen);
}

// ---- Our worker's own checks: stricter than virglrenderer's, so not run against it. ----

TEST_CASE("worker rejects malformed INIT", "[bad-input][ours]") {
    RawServer server(ours());
    server.init();
    protocol::ContextInitRequest req{};
    req.header.op = protocol::ContextOp::Init;
    req.flags = protocol::kCapsetVenus;
    req.shmem_size = 256;
    std::uint32_t id = 1;
    auto expect_fatal = [&](protocol::ContextInitRequest init, std::vector<int> fds) {
        UniqueFd ctx = server.create_context(id++);
        REQUIRE(ctx.valid());
        REQUIRE(send_raw(ctx.get(), init, fds));
        CHECK(wait_hangup(ctx.get()));
    };
    const auto sealed = sealed_memfd(256, F_SEAL_SHRINK | F_SEAL_GROW);
    SECTION("capset other than Venus") {
        auto bad = req;
        bad.flags = 1;
        expect_fatal(bad, {sealed.get()});
    }
    SECTION("shmem not sealed against shrinking") {
        const auto unsealed = sealed_memfd(256, 0);
        expect_fatal(req, {unsealed.get()});
    }
    SECTION("shmem smaller than claimed") {
        auto bad = req;
        bad.shmem_size = 4096;
        expect_fatal(bad, {sealed.get()});
    }
    SECTION("shmem size not a multiple of 4") {
        auto bad = req;
        bad.shmem_size = 255;
        expect_fatal(bad, {sealed.get()});
    }
    SECTION("shmem that is a pipe") {
        int pipe_fds[2];
        REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
        UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
        expect_fatal(req, {r.get()});
    }
    SECTION("eventfd that is a memfd") {
        expect_fatal(req, {sealed.get(), sealed.get()});
    }
    SECTION("INIT twice") {
        UniqueFd ctx = server.create_context(id++);
        UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
        REQUIRE(send_raw(ctx.get(), req, {sealed.get(), efd.get()}));
        REQUIRE(send_raw(ctx.get(), req, {sealed.get()}));
        CHECK(wait_hangup(ctx.get()));
    }
    SECTION("any op before INIT") {
        UniqueFd ctx = server.create_context(id++);
        protocol::ContextSubmitFenceRequest fence{};
        fence.header.op = protocol::ContextOp::SubmitFence;
        REQUIRE(send_raw(ctx.get(), fence));
        CHECK(wait_hangup(ctx.get()));
    }
    CHECK(server.alive());
    UniqueFd still = server.create_context(100);
    CHECK(still.valid());
}

TEST_CASE("worker rejects bad fences, imports and submits", "[bad-input][ours]") {
    const int fds_before = count_open_fds();
    {
        auto server = spawn(ours());
        auto bystander = create_context(server.get(), 1000);
        auto victim = create_context(server.get(), 1);
        const int fd = vn_proxy_context_socket_fd(victim.get());
        vn_proxy_blob blob{};
        REQUIRE(vn_proxy_context_create_resource(
                    victim.get(), 5, 0, 4096, VN_PROXY_BLOB_FLAG_MAPPABLE, &blob) == VN_PROXY_OK);
        UniqueFd blob_fd(blob.fd);
        protocol::ContextImportResourceRequest import{};
        import.header.op = protocol::ContextOp::ImportResource;
        import.res_id = 6;
        import.fd_type = protocol::FdType::Shm;
        import.size = 4096;
        const auto memfd = sealed_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW);

        SECTION("fence on a ring beyond the shared page") {
            protocol::ContextSubmitFenceRequest fence{};
            fence.header.op = protocol::ContextOp::SubmitFence;
            fence.ring_index = 64;
            REQUIRE(send_raw(fd, fence));
        }
        SECTION("fence with unknown flags") {
            protocol::ContextSubmitFenceRequest fence{};
            fence.header.op = protocol::ContextOp::SubmitFence;
            fence.flags = 0x80;
            REQUIRE(send_raw(fd, fence));
        }
        SECTION("import claiming more than the memfd holds") {
            auto bad = import;
            bad.size = 8192;
            REQUIRE(send_raw(fd, bad, {memfd.get()}));
        }
        SECTION("import overlapping a live res_id") {
            auto bad = import;
            bad.res_id = 5;
            REQUIRE(send_raw(fd, bad, {memfd.get()}));
        }
        SECTION("import of res_id 0") {
            auto bad = import;
            bad.res_id = 0;
            REQUIRE(send_raw(fd, bad, {memfd.get()}));
        }
        SECTION("import of an unsealed SHM fd") {
            const auto unsealed = sealed_memfd(4096, 0);
            REQUIRE(send_raw(fd, import, {unsealed.get()}));
        }
        SECTION("import of a memfd as a dma-buf") {
            auto bad = import;
            bad.fd_type = protocol::FdType::DmaBuf;
            REQUIRE(send_raw(fd, bad, {memfd.get()}));
        }
        SECTION("import with an unknown fd type") {
            auto bad = import;
            bad.fd_type = static_cast<protocol::FdType>(9);
            REQUIRE(send_raw(fd, bad, {memfd.get()}));
        }
        SECTION("import of a socket as SHM") {
            int pair[2];
            REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
            UniqueFd a(pair[0]), b(pair[1]);
            REQUIRE(send_raw(fd, import, {a.get()}));
        }
        SECTION("submit larger than the worker accepts") {
            protocol::v1::ContextSubmitCmdRequest req{};
            req.header.op = protocol::ContextOp::SubmitCmd;
            req.size = 0xffffffffu;
            REQUIRE(send_raw(fd, req));
        }
        if (VN_TEST_SERVER_VALIDATES_STREAMS) {
            SECTION("a stream the decoder rejects") {
                const auto stream = invalid_stream();
                CHECK(vn_proxy_context_submit_cmd(victim.get(), stream.data(), stream.size()) ==
                      VN_PROXY_OK);
            }
        } else {
            WARN("the server was built without vn_decoder; rejected streams are not tested");
        }
        CHECK(wait_lost(victim.get()));
        CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
    }
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE("worker refuses resources beyond its budget, non-fatally", "[bad-input][ours]") {
    auto server = spawn(ours());
    auto ctx = create_context(server.get(), 1);
    vn_proxy_blob blob{};
    CHECK(vn_proxy_context_create_resource(ctx.get(), 1, 0, (1ull << 30) + 4096,
                                           VN_PROXY_BLOB_FLAG_MAPPABLE,
                                           &blob) == VN_PROXY_ERROR_REFUSED);
    CHECK(vn_proxy_context_create_resource(ctx.get(), 2, 0, 4096, 0, &blob) ==
          VN_PROXY_ERROR_REFUSED);
    CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
}

TEST_CASE("fences on rings no queue is bound to", "[fence][ours]") {
    auto server = spawn(ours());
    if (VN_TEST_SERVER_VALIDATES_STREAMS) {
        // With an executor, ring_idx > 0 names a VkQueue's timeline
        // (VkDeviceQueueTimelineInfoMESA); a fence on one that no queue was bound to fails the
        // context (vkr_context_submit_fence).
        auto ctx = create_context(server.get(), 1);
        const auto stream = trivial_stream(20);
        REQUIRE(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) ==
                VN_PROXY_OK);
        std::uint32_t seqno = 0;
        (void)vn_proxy_context_submit_fence(ctx.get(), 5, &seqno);
        CHECK(wait_lost(ctx.get(), 10000));
        auto other = create_context(server.get(), 2);
        CHECK(fence_round_trip(other.get()) == VN_PROXY_OK);
        return;
    }
    // Without one, a stream is done once accepted: fences retire after earlier submits.
    auto ctx = create_context(server.get(), 1);
    for (std::uint32_t ring = 1; ring < VN_PROXY_RING_COUNT; ring += 9) {
        const auto stream = trivial_stream(20);
        REQUIRE(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) ==
                VN_PROXY_OK);
        CHECK(fence_round_trip(ctx.get(), ring) == VN_PROXY_OK);
        std::uint32_t retired = 0;
        REQUIRE(vn_proxy_context_retired_seqno(ctx.get(), ring, &retired) == VN_PROXY_OK);
        CHECK(retired == 1);
    }
    std::uint32_t untouched = 7;
    REQUIRE(vn_proxy_context_retired_seqno(ctx.get(), 2, &untouched) == VN_PROXY_OK);
    CHECK(untouched == 0);
}

// ---- Client ops: our server drops the bad message and keeps serving; virglrenderer's server
// exits on these, so they are ours only. ----

TEST_CASE("server survives bad client ops", "[bad-input][ours]") {
    RawServer server(ours());
    server.init();
    RawContext existing{server.create_context(1), {}};
    REQUIRE(existing.socket.valid());
    REQUIRE(raw_context_init(existing));

    std::vector<BadMessage> cases;
    cases.push_back({"unknown op 5", op_only(5, 4)});
    cases.push_back({"unknown op 0x80000000", op_only(0x80000000u, 8)});
    cases.push_back({"INIT of 4 bytes", op_only(1, 4)});
    cases.push_back({"CREATE_CONTEXT of 39 bytes", op_only(3, 39)});
    cases.push_back({"DESTROY_CONTEXT of 40 bytes", op_only(4, 40)});
    cases.push_back({"3 bytes", op_only(0, 3)});
    cases.push_back({"datagram of 4096 bytes", op_only(3, 4096)});
    cases.push_back({"NOP with an fd", op_only(0, 4), 1});
    cases.push_back({"DESTROY_CONTEXT with 8 fds", op_only(4, 8), 8});
    cases.push_back({"message of 9 fds", op_only(0, 4), 9});
    const int fds_before = count_open_fds();
    for (const auto& message : cases) {
        INFO(message.what);
        send_bad(server.fd(), message);
        // The next well-formed request is still served.
        UniqueFd ctx = server.create_context(50);
        CHECK(ctx.valid());
        server.destroy_context(50);
        CHECK(server.alive());
    }
    CHECK(count_open_fds() == fds_before);
    // The existing context never noticed.
    pollfd pfd{existing.socket.get(), POLLIN, 0};
    CHECK(::poll(&pfd, 1, 0) == 0);
}

TEST_CASE("server refuses reused, reserved and unknown context ids", "[bad-input][ours]") {
    RawServer server(ours());
    server.init();
    UniqueFd first = server.create_context(7);
    REQUIRE(first.valid());
    CHECK_FALSE(server.create_context(7).valid());
    CHECK_FALSE(server.create_context(0).valid());
    server.destroy_context(12345); // ignored
    // After destroy the id is free again, and the old socket sees its worker go.
    server.destroy_context(7);
    CHECK(wait_hangup(first.get()));
    UniqueFd reused = server.create_context(7);
    CHECK(reused.valid());
    CHECK(server.alive());
}

TEST_CASE("RESET drops every context of the connection", "[lifecycle][ours]") {
    RawServer server(ours());
    server.init();
    std::vector<UniqueFd> contexts;
    for (std::uint32_t id = 1; id <= 4; ++id) {
        contexts.push_back(server.create_context(id));
        REQUIRE(contexts.back().valid());
    }
    protocol::ClientResetRequest reset{};
    reset.header.op = protocol::ClientOp::Reset;
    REQUIRE(send_raw(server.fd(), reset));
    for (auto& ctx : contexts)
        CHECK(wait_hangup(ctx.get()));
    CHECK(server.create_context(1).valid());
}

} // namespace

PROTOCOL_TEST("fatal context ops end only their context", "[bad-input]", bad_context_ops)
PROTOCOL_TEST("split payload of the wrong size ends the context", "[bad-input][submit]",
              split_payload_mismatch)
PROTOCOL_TEST("INIT with the wrong fd count ends the context", "[bad-input]", init_without_fds)
