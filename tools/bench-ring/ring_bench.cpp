// venus-ring-bench: the cost of the Venus ring transport itself, with no processes in between
// (venus-bench measures rings through libvenus-proxy, a server and a worker). The guest library's
// Ring (the one venus-bench uses) writes vkSeekReplyCommandStreamMESA commands (decoded and
// checked, no driver call) into a ring in a memfd, and the ring thread of a real decoder context
// in this process runs them.
// Prints commands/s and MB/s for batched writes, and the round trip of one command to a busy
// ring (polling) and to an idle one (asleep, woken by vkNotifyRingMESA on the context path).
#include "local_transport.h"
#include "vn/client/guest.h"
#include "vn/client/ring.h"
#include "vn_protocol.gen.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace vn;

template <typename Args>
std::vector<std::byte> encode(const Args& a) {
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, 0, a);
    return out;
}

// One batch on the ring, waited for; any failure ends the benchmark.
void run(client::Ring& ring, std::span<const std::byte> cmds) {
    std::uint32_t seqno = 0;
    if (ring.submit(cmds, seqno) != client::Status::Ok ||
        ring.wait(seqno, 10000) != client::Status::Ok) {
        std::fprintf(stderr, "the ring failed (head %u, tail %u)\n", ring.head(), ring.tail());
        std::exit(1);
    }
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    std::size_t commands = 1'000'000;
    int round_trips = 2000;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--commands") && i + 1 < argc)
            commands = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--round-trips") && i + 1 < argc)
            round_trips = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: %s [--commands N] [--round-trips N]\n", argv[0]);
            return 2;
        }
    }
    bench::LocalTransport transport;
    client::Guest guest(transport);
    client::RingOptions options;
    options.buffer_size = 256 * 1024;
    options.idle_timeout_ns = 5'000'000; // Mesa's
    // The seeks below need a reply stream: a small shmem of its own, outliving the ring.
    client::MappedBlob replies;
    if (guest.map_blob(0, 4096, replies) != client::Status::Ok) {
        std::fprintf(stderr, "reply shmem: %s\n", guest.last_error().c_str());
        return 1;
    }
    client::Ring ring(guest, options);
    VkCommandStreamDescriptionMESA desc{replies.res_id(), 0, 4096};
    gen::SetReplyCommandStreamMESAArgs set;
    set.pStream = &desc;
    gen::SeekReplyCommandStreamMESAArgs seek;
    seek.position = 16;
    const auto one = encode(seek);
    run(ring, encode(set));

    // Throughput: batches of 256 commands (one 4 KiB write), the guest never waiting but for room.
    std::vector<std::byte> batch;
    for (int i = 0; i < 256; ++i)
        batch.insert(batch.end(), one.begin(), one.end());
    const std::size_t batches = std::max<std::size_t>(1, commands / 256);
    auto t0 = Clock::now();
    std::uint32_t last = 0;
    for (std::size_t b = 0; b < batches; ++b)
        if (ring.submit(batch, last) != client::Status::Ok)
            return 1;
    if (ring.wait(last, 10000) != client::Status::Ok)
        return 1;
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double n = static_cast<double>(batches * 256);
    std::printf("ring throughput: %.2f M commands/s, %.1f MB/s (%zu commands of %zu bytes)\n",
                n / s / 1e6, n * static_cast<double>(one.size()) / s / 1e6, batches * 256,
                one.size());

    // Round trips of one command: to a busy ring (just used), then to one asleep after its
    // idle timeout, which the guest wakes with vkNotifyRingMESA.
    std::vector<double> busy, idle;
    for (int i = 0; i < round_trips; ++i) {
        const auto t = Clock::now();
        run(ring, one);
        busy.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    for (int i = 0; i < std::max(1, round_trips / 100); ++i) {
        while (!(ring.status() & VK_RING_STATUS_IDLE_BIT_MESA))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const auto t = Clock::now();
        run(ring, one);
        idle.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    std::printf("round trip, busy ring: median %.1f us over %zu\n", median(busy), busy.size());
    std::printf("round trip, idle ring (notify): median %.1f us over %zu\n", median(idle),
                idle.size());
    return transport.is_lost() ? 1 : 0;
}
