#include "executor.h"

#include "ring.h"

#include <cstdlib>
#include <cstring>
#include <sched.h>

#include <vector>
#include <vulkan/vulkan.h>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

// Whether recorded commands' driver calls get a thread of their own (call_queue.h).
// VENUS_RECORDED_CALLS=thread or =inline decides; by default the thread is used where this process
// may run on at least 4 CPUs. With venus-bench "command throughput" on an H100 host (16 CPUs,
// driver 580), the thread gives 1.40x of inline with our bench client and 1.39x with Mesa's
// driver through venus-vtest (medians of 6 and 5 interleaved rounds); on 4 of its CPUs (taskset)
// they are even. On a 2-core VM with lavapipe the guest, the decoder and the driver thread share
// two cores, and rounds with the thread ranged from 0.61x to 1.19x of inline (4 rounds).
bool queue_recorded_calls() {
    if (const char* v = std::getenv("VENUS_RECORDED_CALLS")) {
        if (std::strcmp(v, "thread") == 0)
            return true;
        if (std::strcmp(v, "inline") == 0)
            return false;
    }
    constexpr int min_cpus = 4;
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    return ::sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) >= min_cpus;
}

} // namespace

Executor::Executor(ObjectTables& objects)
    : m_objects(objects), m_fatal(&objects.fatal()),
      m_queue_recorded_calls(queue_recorded_calls()) {
    // The loader is linked, not dlopen'ed: it is the one well-kept way to reach any ICD.
    gen::load(m_global, vkGetInstanceProcAddr);
}

Executor::~Executor() {
    shut_down();
}

void Executor::shut_down() {
    if (m_shut_down)
        return;
    m_shut_down = true;
    // Ring threads dispatch into this executor: they stop before anything they use goes.
    stop_rings();
    m_calls.drain();
    std::vector<std::uint64_t> devices;
    for (const auto& [id, entry] : m_objects.table<VkDevice>())
        devices.push_back(id);
    for (std::uint64_t id : devices) {
        auto* entry = m_objects.find<VkDevice>(id);
        auto* dev = static_cast<DeviceState*>(entry->state.get());
        destroy_children(*dev, entry->handle);
        dev->dispatch.DestroyDevice(entry->handle, nullptr);
        (void)m_objects.remove<VkDevice>(id);
    }
    m_fence_threads.clear();
    std::vector<std::uint64_t> instances;
    for (const auto& [id, entry] : m_objects.table<VkInstance>())
        instances.push_back(id);
    for (std::uint64_t id : instances) {
        auto* entry = m_objects.find<VkInstance>(id);
        static_cast<InstanceState*>(entry->state.get())
            ->dispatch.DestroyInstance(entry->handle, nullptr);
        (void)m_objects.remove<VkInstance>(id);
    }
}

DecodeResult Executor::begin_reply(protocol::Decoder& d, protocol::Writer*& out) {
    if (!m_source->reply)
        return d.in.fail("a reply was requested but no reply stream is set");
    out = m_source->reply;
    return DecodeResult::Ok;
}

DecodeResult Executor::end_reply(protocol::Decoder& d, protocol::Writer& w) {
    if (w.overflowed())
        return d.in.fail("the reply does not fit in the reply stream");
    return DecodeResult::Ok;
}

} // namespace vn::decoder
