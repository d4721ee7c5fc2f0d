// venus-ring-bench: the cost of the Venus ring transport itself. A guest thread writes
// vkSeekReplyCommandStreamMESA commands (decoded and checked, no driver call) into a ring in a
// memfd, as Mesa's vn_ring.c does, and the ring thread of a real decoder context runs them.
// Prints commands/s and MB/s for batched writes, and the round trip of one command to a busy
// ring (polling) and to an idle one (asleep, woken by vkNotifyRingMESA on the context path).
#include "vn/decoder/context.h"
#include "vn_protocol.gen.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace vn;

constexpr std::size_t shm_size = 1 << 20;
constexpr std::uint32_t buffer_size = 256 * 1024;
constexpr std::size_t head_off = 0, tail_off = 64, status_off = 128, buffer_off = 192;
constexpr std::uint64_t ring_id = 1;

class Shm final : public decoder::ResourceProvider {
  public:
    Shm() {
        m_fd = ::memfd_create("ring-bench", MFD_CLOEXEC);
        if (m_fd < 0 || ::ftruncate(m_fd, shm_size) != 0)
            std::abort();
        void* p = ::mmap(nullptr, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
        if (p == MAP_FAILED)
            std::abort();
        data = static_cast<std::byte*>(p);
    }
    ~Shm() override {
        ::munmap(data, shm_size);
        ::close(m_fd);
    }
    Shm(const Shm&) = delete;
    Shm& operator=(const Shm&) = delete;
    std::optional<decoder::ShmRegion> shm(std::uint32_t id) override {
        if (id != 1)
            return std::nullopt;
        return decoder::ShmRegion{data, shm_size};
    }
    std::byte* data = nullptr;

  private:
    int m_fd = -1;
};

template <typename Args>
std::vector<std::byte> encode(const Args& a) {
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, 0, a);
    return out;
}

std::atomic_ref<std::uint32_t> word(Shm& shm, std::size_t off) {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(shm.data + off));
}

// The guest side: writes at the tail, waits for room, publishes, notifies an idle ring.
struct Guest {
    Shm& shm;
    decoder::Context& ctx;
    std::uint32_t tail = 0;

    void write(const std::vector<std::byte>& cmds) {
        while (tail + cmds.size() - word(shm, head_off).load(std::memory_order_acquire) >
               buffer_size)
            std::this_thread::yield();
        for (std::size_t i = 0; i < cmds.size(); ++i)
            shm.data[buffer_off + ((tail + i) & (buffer_size - 1))] = cmds[i];
        tail += static_cast<std::uint32_t>(cmds.size());
        word(shm, tail_off).store(tail, std::memory_order_seq_cst);
        if (word(shm, status_off).load(std::memory_order_seq_cst) & VK_RING_STATUS_IDLE_BIT_MESA) {
            gen::NotifyRingMESAArgs n;
            n.ring = ring_id;
            if (!ctx.submit(encode(n)))
                std::abort();
        }
    }
    void wait_head() const {
        while (word(shm, head_off).load(std::memory_order_acquire) != tail)
            std::this_thread::yield();
    }
};

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
    Shm shm;
    decoder::Context ctx({decoder::Mode::Execute, std::size_t{1} << 30, &shm});

    VkCommandStreamDescriptionMESA desc{1, buffer_off + buffer_size, 4096};
    gen::SetReplyCommandStreamMESAArgs set;
    set.pStream = &desc;
    gen::SeekReplyCommandStreamMESAArgs seek;
    seek.position = 16;
    const auto one = encode(seek);

    VkRingCreateInfoMESA info{};
    info.sType = VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA;
    info.resourceId = 1;
    info.size = shm_size;
    info.idleTimeout = 5'000'000; // Mesa's
    info.headOffset = head_off;
    info.tailOffset = tail_off;
    info.statusOffset = status_off;
    info.bufferOffset = buffer_off;
    info.bufferSize = buffer_size;
    info.extraOffset = buffer_off + buffer_size + 4096;
    info.extraSize = 4;
    gen::CreateRingMESAArgs create;
    create.ring = ring_id;
    create.pCreateInfo = &info;
    if (!ctx.submit(encode(create))) {
        std::fprintf(stderr, "vkCreateRingMESA failed: %s\n", ctx.fatal_reason().c_str());
        return 1;
    }
    Guest guest{shm, ctx};
    guest.write(encode(set));
    guest.wait_head();

    // Throughput: batches of 256 commands (one 4 KiB write), the guest never waiting but for room.
    std::vector<std::byte> batch;
    for (int i = 0; i < 256; ++i)
        batch.insert(batch.end(), one.begin(), one.end());
    const std::size_t batches = std::max<std::size_t>(1, commands / 256);
    auto t0 = Clock::now();
    for (std::size_t b = 0; b < batches; ++b)
        guest.write(batch);
    guest.wait_head();
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
        guest.write(one);
        guest.wait_head();
        busy.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    for (int i = 0; i < std::max(1, round_trips / 100); ++i) {
        while (!(word(shm, status_off).load() & VK_RING_STATUS_IDLE_BIT_MESA))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const auto t = Clock::now();
        guest.write(one);
        guest.wait_head();
        idle.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    std::printf("round trip, busy ring: median %.1f us over %zu\n", median(busy), busy.size());
    std::printf("round trip, idle ring (notify): median %.1f us over %zu\n", median(idle),
                idle.size());
    return ctx.is_fatal() ? 1 : 0;
}
