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

// Whether recorded commands' driver calls get a thread of their own (call_queue.h). It pays where
// the decoding thread and the driver's can run at once without taking the cores the guest's own
// threads need: on 2 cores the two threads and the guest's share them and the split loses
// (venus-bench "command throughput", 0.86x). VENUS_RECORDED_CALLS=thread or inline overrides
// the choice, for comparing the two on one host.
bool queue_recorded_calls() {
    if (const char* v = std::getenv("VENUS_RECORDED_CALLS")) {
        if (std::strcmp(v, "thread") == 0)
            return true;
        if (std::strcmp(v, "inline") == 0)
            return false;
    }
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    return ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= 4;
}

} // namespace

Executor::Executor(ObjectTables& objects)
    : m_objects(objects), m_fatal(&objects.fatal()),
      m_queue_recorded_calls(queue_recorded_calls()) {
    // The loader is linked, not dlopen'ed: it is the one well-kept way to reach any ICD.
    gen::load(m_global, vkGetInstanceProcAddr);
}

Executor::~Executor() {
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
