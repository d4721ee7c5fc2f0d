// A worker killed with SIGKILL in the middle of a stream of submits: its context is lost (an error
// code, not a crash or a hang of the VMM), every other context keeps working, and the server keeps
// creating contexts.
#include "harness.h"

#include <catch2/catch.hpp>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

using namespace vn::test;

namespace {

// The server's child that runs (or reaps) the worker of the context created last. Ours is found by
// its worker's name, since ours also keeps a spare worker as a child; for other servers, the one
// child of the server that was not there before.
pid_t new_worker(const Backend& backend, pid_t server, const std::vector<pid_t>& before,
                 std::uint32_t ctx_id) {
    if (backend.path == ours().path)
        return find_context_worker(server, ctx_id).child;
    for (int attempt = 0; attempt < 500; ++attempt) {
        for (const pid_t pid : child_pids(server)) {
            if (std::find(before.begin(), before.end(), pid) == before.end())
                return pid;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return -1;
}

void worker_killed_mid_submit(const Backend& backend) {
    const int fds_before = count_open_fds();
    {
        auto server = spawn(backend);
        const pid_t server_pid = vn_proxy_server_pid(server.get());
        REQUIRE(server_pid > 0);

        auto before = child_pids(server_pid);
        auto victim = create_context(server.get(), 1);
        const pid_t victim_pid = new_worker(backend, server_pid, before, 1);
        REQUIRE(victim_pid > 0);
        auto bystander = create_context(server.get(), 2);

        std::atomic<int> submits{0};
        std::atomic<int> last_result{VN_PROXY_OK};
        std::thread submitter([&] {
            const auto stream = trivial_stream(200); // split over two datagrams
            for (;;) {
                const int result =
                    vn_proxy_context_submit_cmd(victim.get(), stream.data(), stream.size());
                if (result != VN_PROXY_OK) {
                    last_result = result;
                    return;
                }
                ++submits;
                // Fences too, so that a waiter is also caught by the death.
                std::uint32_t seqno;
                if (vn_proxy_context_submit_fence(victim.get(), 0, &seqno) == VN_PROXY_OK &&
                    vn_proxy_context_wait_fence(victim.get(), 0, seqno, 5000) != VN_PROXY_OK) {
                    last_result = VN_PROXY_ERROR_CONTEXT_LOST;
                    return;
                }
            }
        });
        while (submits < 20)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        REQUIRE(::kill(victim_pid, SIGKILL) == 0);
        submitter.join();
        CHECK(last_result == VN_PROXY_ERROR_CONTEXT_LOST);
        CHECK(vn_proxy_context_is_lost(victim.get()));
        std::uint32_t seqno;
        CHECK(vn_proxy_context_submit_fence(victim.get(), 0, &seqno) ==
              VN_PROXY_ERROR_CONTEXT_LOST);

        CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
        const auto stream = trivial_stream(40);
        CHECK(vn_proxy_context_submit_cmd(bystander.get(), stream.data(), stream.size()) ==
              VN_PROXY_OK);
        // The lost context is destroyed as usual, and its id can be used again.
        victim.reset();
        auto replacement = create_context(server.get(), 1);
        CHECK(fence_round_trip(replacement.get()) == VN_PROXY_OK);
        CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
    }
    CHECK(count_open_fds() == fds_before);
}

} // namespace

PROTOCOL_TEST("worker killed in the middle of a submit", "[worker-death]", worker_killed_mid_submit)
