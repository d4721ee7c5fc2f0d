#include "executor.h"

#include "ring.h"

#include <cstdlib>
#include <cstring>

#include <vector>
#include <vulkan/vulkan.h>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

// Whether recorded commands' driver calls get a thread of their own (call_queue.h): only when
// VENUS_RECORDED_CALLS=thread. Measured with venus-bench "command throughput", it does not pay
// by default: on 2 cores it loses (0.86x of inline over 8 rounds); on an H100 host with 16 cores
// our bench client's recordings gain 1.08x to 1.17x, but Mesa's driver through venus-vtest loses
// (0.86x to 0.90x).
bool queue_recorded_calls() {
    const char* v = std::getenv("VENUS_RECORDED_CALLS");
    return v && std::strcmp(v, "thread") == 0;
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
