#pragma once
// The executor: Venus commands run on the host Vulkan driver. Each hand-written handler receives
// decoded, resolved arguments (guest ids already mapped to host handles) and records the objects
// it creates in the context's tables. Files are split by object family, as in virglrenderer's
// vkr_*.c and Mesa's vn_*.c. Commands without a handler yet are fatal ("not implemented").
#include "last_hit_map.h"
#include "texel_block.h"
#include "vn/decoder/context.h"
#include "vn/decoder/object_table.h"
#include "vn/decoder/resources.h"
#include "vn_dispatch.gen.h"
#include "vn_passthrough.gen.h"
#include "vn_vulkan.gen.h"

#include <bitset>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vn::decoder {

// What a context knows about a VkInstance: its entry points.
// What a physical device offers a guest (exposed_chain.cpp), worked out once: the host's
// extension list does not change while the instance lives, and every query that carries a
// structure chain is filtered by it.
struct DeviceExposure {
    std::vector<VkExtensionProperties> extensions;
    std::vector<std::string> names; // the same, by name
    bool emulates_sync_fd = false;
};

class InstanceState final : public ObjectState {
  public:
    gen::InstanceDispatch dispatch;
    std::uint32_t api_version = 0;
    // A cache (exposed_chain.cpp fills it; only used under the dispatch lock), hence mutable.
    mutable std::unordered_map<VkPhysicalDevice, DeviceExposure> exposure;
};

// Sparse binding is not offered (physical_device.cpp): these clear it from features, and these
// create flags are refused.
void hide_sparse_features(VkPhysicalDeviceFeatures& f);
bool enables_sparse(const VkPhysicalDeviceFeatures& f);
inline constexpr VkImageCreateFlags kSparseImageFlags = VK_IMAGE_CREATE_SPARSE_BINDING_BIT |
                                                        VK_IMAGE_CREATE_SPARSE_RESIDENCY_BIT |
                                                        VK_IMAGE_CREATE_SPARSE_ALIASED_BIT;
inline constexpr VkBufferCreateFlags kSparseBufferFlags = VK_BUFFER_CREATE_SPARSE_BINDING_BIT |
                                                          VK_BUFFER_CREATE_SPARSE_RESIDENCY_BIT |
                                                          VK_BUFFER_CREATE_SPARSE_ALIASED_BIT;

// What a context knows about a VkPhysicalDevice: the instance it came from.
class PhysicalDeviceState final : public ObjectState {
  public:
    explicit PhysicalDeviceState(const InstanceState& i) : instance(&i) {}
    const InstanceState* instance;
    // Memory types whose memory the guest can map (mappable_types_of), found once.
    std::optional<std::uint32_t> mappable_types;
};

// The memory types of `pd` whose host-visible memory can be handed to a guest: from the table the
// server learnt (vn/decoder/host_memory_probe.h), else probed on a throwaway device.
std::uint32_t mappable_types_of(const InstanceState& inst, VkPhysicalDevice pd,
                                const VkPhysicalDeviceMemoryProperties& mem);

// The shape of an image: every region a command names in it is checked against this, since
// drivers trust those regions and would read or write outside the image's memory.
// Whether `count` mip levels or array layers from `base` lie within `total`; VK_REMAINING_*
// (both ~0u) means "from base to the end".
constexpr bool subresource_span_fits(std::uint32_t base, std::uint32_t count, std::uint32_t total) {
    return base < total &&
           (count == VK_REMAINING_MIP_LEVELS || (count != 0 && count <= total - base));
}

struct ImageShape {
    VkImageType type = VK_IMAGE_TYPE_2D;
    VkFormat format = VK_FORMAT_UNDEFINED;
    VkExtent3D extent{};
    std::uint32_t mip_levels = 0;
    std::uint32_t array_layers = 0;
    // Commands may only name bound images and buffers: drivers dereference the memory blindly.
    bool bound = false;
    VkImageUsageFlags usage = 0;
    // Host image copies (host_image_copy.cpp) have the driver touch the image's memory on the
    // CPU, so freeing it must stop them: the memories it is bound to, and whether one is gone.
    // Kept only on devices that enabled hostImageCopy.
    std::vector<VkDeviceMemory> memories;
    bool memory_freed = false;
};

struct BufferShape {
    VkDeviceSize size = 0;
    bool bound = false;
};

// What rendering through an image view may reach: the extent of its first level and its layers.
struct ViewShape {
    VkExtent2D extent{};
    std::uint32_t layers = 0;
};

// What a framebuffer and a render pass must agree on before drivers index one by the other.
struct RenderPassShape {
    std::uint32_t attachments = 0;
    std::uint32_t clear_values = 0; // one more than the last attachment index that is cleared
    std::uint32_t views = 1;        // multiview: one more than the highest view index
};
// A descriptor set layout's bindings (number, descriptor count), sorted by number; drivers
// write updates at the element they name without checking it. The last binding may have a
// variable count, fixed per set when it is allocated.
struct SetLayoutShape {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> bindings;
    bool variable_last = false;
    std::uint32_t dynamic = 0; // dynamic buffer descriptors, one dynamic offset each
};
struct SetShape {
    std::shared_ptr<const SetLayoutShape> layout;
    std::uint32_t last_count = 0; // the variable binding's count in this set
};

// A pipeline layout's set layouts by set number (null where a pipeline library leaves a hole).
struct PipelineLayoutShape {
    std::vector<std::shared_ptr<const SetLayoutShape>> sets;
    // The end of the furthest push constant range: drivers copy pushed bytes into a block of
    // this layout's size.
    std::uint32_t push_constant_end = 0;
};

struct FramebufferShape {
    std::uint32_t width = 0, height = 0, layers = 0;
    std::uint32_t attachments = 0;
    bool imageless = false;
};

// A query pool's size, and how many values one query's result holds.
struct QueryPoolShape {
    VkQueryType type = VK_QUERY_TYPE_OCCLUSION;
    std::uint32_t count = 0;
    std::uint32_t values = 1;
};

// A semaphore's type, and (emulated VK_KHR_external_semaphore_fd, sync_resource.cpp) whether it
// holds a signalled temporary payload from vkImportSemaphoreResourceMESA: the next wait on it is
// satisfied at once and gives the permanent payload back.
struct SemaphoreShape {
    bool timeline = false;
    bool signalled_import = false;
};

// What a context knows about a VkDevice: its entry points, and every object created from it, so
// that destroying the device (or the context) destroys them first and no id outlives its host
// object.
class DeviceState final : public ObjectState {
  public:
    gen::DeviceDispatch dispatch;
    // entry_present(dispatch, type) for every command, worked out once when the device is made:
    // every command a ring decodes checks it.
    std::bitset<gen::command_type_count> entries;
    VkPhysicalDeviceMemoryProperties memory{};
    // Drivers size per-binding state arrays by these; indices a command names are checked.
    VkPhysicalDeviceLimits limits{};
    // Non-zero when VK_EXT_external_memory_host is enabled: host-visible memory is then ours.
    VkDeviceSize host_import_alignment = 0;
    // Host-only entry point (the protocol does not carry VK_EXT_external_memory_host).
    PFN_vkGetMemoryHostPointerPropertiesEXT get_host_pointer_properties = nullptr;
    // memory_resource.cpp, sync_resource.cpp: fd entry points, null unless the guest enabled
    // their extensions (VK_KHR_external_memory_fd, _fence_fd, _semaphore_fd).
    PFN_vkGetMemoryFdPropertiesKHR get_memory_fd_properties = nullptr;
    PFN_vkGetFenceFdKHR get_fence_fd = nullptr;
    PFN_vkGetSemaphoreFdKHR get_semaphore_fd = nullptr;
    PFN_vkImportSemaphoreFdKHR import_semaphore_fd = nullptr;
    // The guest enabled VK_KHR_external_semaphore_fd on a host that cannot import a binary
    // semaphore's sync_fd (sync_resource.cpp): its two uses in the protocol are emulated.
    bool emulated_semaphore_sync_fd = false;
    // The physical device emulates it (exposed_chain.h): an export of a sync_fd, which the guest
    // may ask for whether or not it enabled the extension, never reaches the driver.
    bool strip_semaphore_sync_fd_export = false;
    bool dma_buf_import = false; // VK_EXT_external_memory_dma_buf enabled
    // hostImageCopy enabled (Vulkan 1.4 or VK_EXT_host_image_copy), with the two entry points
    // the protocol reaches only through its private commands (PFN_vkCopyMemoryToImageEXT and
    // PFN_vkCopyImageToMemoryEXT; older registries lack the types), and the images bound to each
    // memory object, for marking them when it is freed.
    bool host_image_copy = false;
    PFN_vkVoidFunction copy_memory_to_image = nullptr;
    PFN_vkVoidFunction copy_image_to_memory = nullptr;
    std::unordered_map<VkDeviceMemory, std::vector<VkImage>> host_copy_images;
    // VK_EXT_transform_feedback limits (zero unless the guest enabled it): drivers keep bound
    // transform feedback buffers and streams in arrays of these sizes.
    std::uint32_t xfb_buffers = 0;
    std::uint32_t xfb_streams = 0;
    const InstanceState* instance = nullptr;
    // Physical devices in the device's group (VkDeviceGroupDeviceCreateInfo; 1 without one):
    // drivers index per-device tables with the device indices commands name.
    std::uint32_t group_size = 1;
    std::unordered_map<std::uint64_t, VkObjectType> children;
    // Allocation size of each live memory object by host handle: binds and other uses name
    // memory inside structs, where only the host handle is left after decoding.
    std::unordered_map<VkDeviceMemory, VkDeviceSize> memory_sizes;
    // The same for buffers, images and query pools: commands name them inside structs too, and
    // every range they name is checked against these before the driver sees it.
    LastHitMap<VkBuffer, BufferShape> buffers;
    std::unordered_map<VkImage, ImageShape> images;
    std::unordered_map<VkQueryPool, QueryPoolShape> query_pools;
    std::unordered_map<VkImageView, ViewShape> views;
    std::unordered_map<VkRenderPass, RenderPassShape> render_passes;
    std::unordered_map<VkFramebuffer, FramebufferShape> framebuffers;
    std::unordered_map<VkDescriptorSetLayout, std::shared_ptr<const SetLayoutShape>> set_layouts;
    LastHitMap<VkDescriptorSet, SetShape> sets;
    LastHitMap<VkPipelineLayout, PipelineLayoutShape> pipeline_layouts;
    // Every live semaphore by host handle (the resource commands name one inside a struct).
    std::unordered_map<VkSemaphore, SemaphoreShape> semaphores;
    // How many of them hold an emulated signalled payload: while none does, submissions go to
    // the driver as decoded.
    std::size_t signalled_imports = 0;
    // Live timeline semaphores among them: the host may signal one the queue waits on.
    std::size_t timeline_semaphores = 0;
    // Lavapipe: the last batch of a submission starts only once the others are done, through a
    // binary semaphore of ours per queue, while the device has no timeline semaphore (sync.cpp
    // says why).
    bool gate_last_batch = false;
    std::unordered_map<VkQueue, VkSemaphore> batch_gates;
    VkDevice handle = VK_NULL_HANDLE; // the host's, for what we create on it ourselves
};

// Queues, command pools, command buffers and other device children: the device they belong to.
class DeviceChildState final : public ObjectState {
  public:
    explicit DeviceChildState(DeviceState& d, std::uint64_t owner_pool = 0)
        : device(&d), pool(owner_pool) {}
    DeviceState* device;
    std::uint64_t pool;         // command buffers: the pool they were allocated from
    std::uint32_t ring_idx = 0; // queues: the fence timeline bound by VkDeviceQueueTimelineInfoMESA
};

// A guest-mappable blob of device memory: a duplicate of the memfd behind it, which the caller
// owns, and the mappable size.
struct MemoryExport {
    int fd = -1;
    std::size_t size = 0;
    // Exported once already: virglrenderer refuses a second export of one memory, and so do we
    // (the proxy seals every shm blob it receives, and a blob is one resource).
    bool repeated = false;
};

class Ring;
class RingSet;
class FenceThread;

// Where a command came from: the context path or one ring. Each source has its own reply stream
// and executed-stream state, as virglrenderer keeps one encoder per ring and one for the context,
// so that a ring's vkSetReplyCommandStreamMESA never redirects the context's replies.
struct DispatchSource {
    Ring* ring = nullptr; // null: the context path
    protocol::Writer* reply = nullptr;
    // The reply stream set by vkSetReplyCommandStreamMESA, and the writer at its position.
    ShmRegion reply_stream;
    std::uint32_t reply_resource = 0;
    protocol::Writer stream_writer{nullptr, 0};
    // Executed streams nest only one level deep; their commands get an arena of their own, so
    // that the executing command's arguments survive each nested command's reset.
    bool executing_streams = false;
    QueuedArenas nested_arenas;
    // The dispatch lock this source holds while its command runs; waits release it.
    std::unique_lock<std::mutex>* lock = nullptr;
};

class Executor final : public gen::PassthroughHandler {
  public:
    // The newest Vulkan core version that the codec carries and the executor runs, with every
    // older one: the vk.xml in use decides the codec, the handlers below the executor
    // (exposed_chain.cpp). The host's version is capped to it.
    static std::uint32_t max_api_version();
    // A host version with its major.minor capped at max_api_version(). The patch level stays the
    // host's, so the guest sees what virglrenderer reports (vkr_api_version_cap_minor).
    static std::uint32_t cap_api_version(std::uint32_t version) {
        const std::uint32_t without_patch = version - VK_API_VERSION_PATCH(version);
        const std::uint32_t max = max_api_version();
        if (without_patch <= max)
            return version;
        return max + VK_API_VERSION_PATCH(version);
    }

    explicit Executor(ObjectTables& objects);
    // A context that ends (or dies) takes its host objects with it: shut_down().
    ~Executor() override;
    // Stops the rings and destroys the host objects, devices with every child, then instances;
    // once: later calls do nothing.
    void shut_down();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    // Replies go to `w` until it is replaced (or a reply stream is set); without one, a reply
    // request is fatal.
    void set_reply_writer(protocol::Writer* w) { m_context_source.reply = w; }
    // Shared memory for reply streams and executed command streams.
    void set_resources(ResourceProvider* resources) { m_resources = resources; }

    // ring.cpp: commands from the context path and from every ring run one at a time, each under
    // this lock, held per command and released while a command waits (on a ring, a virtqueue
    // seqno) and while a ring sleeps.
    std::mutex& dispatch_mutex() { return m_dispatch_mutex; }
    DispatchSource& context_source() { return m_context_source; }
    // Decodes and runs one command from `source`; `lock` holds dispatch_mutex().
    protocol::DecodeResult dispatch(DispatchSource& source, std::unique_lock<std::mutex>& lock,
                                    protocol::Decoder& d);
    // Whether a ring or a reply stream uses the resource (its destruction is then fatal). Caller
    // holds dispatch_mutex().
    bool resource_in_use(std::uint32_t resource_id) const;
    // A context fence on a queue timeline (ring_idx > 0): `retire` runs on the fence thread once
    // the GPU work submitted so far on the queue bound to ring_idx has completed. False when no
    // queue is bound to ring_idx. Caller holds dispatch_mutex().
    bool submit_fence(std::uint32_t ring_idx, std::function<void()> retire, std::string& error);
    // Stops and joins every ring; the caller must not hold dispatch_mutex().
    void stop_rings();
    // Recorded commands (vkCmd*) from rings, and from the streams rings execute, have their
    // driver calls queued (call_queue.h says what keeps that in order); a source keeps what those
    // calls point at in QueuedArenas. Caller holds dispatch_mutex().
    void drain_recorded_calls() { m_calls.drain(); }
    // Hands the queued calls to the thread now rather than with the next batch.
    void flush_recorded_calls() { m_calls.flush(); }
    // A ring's commands from `in`, one after another under one hold of `lock`
    // (dispatch_mutex()): at most `max_commands`, while each succeeds and `after_each()`, called
    // after every command that ran, returns true. What dispatch() does around each command is
    // done once per run here: on a ring of small vkCmd* it cost as much as a command's decode.
    // Returns the first command's failure, or Ok.
    template <typename AfterEach>
    protocol::DecodeResult dispatch_run(DispatchSource& source, std::unique_lock<std::mutex>& lock,
                                        protocol::Reader& in, QueuedArenas& arenas,
                                        std::uint32_t max_commands, AfterEach&& after_each) {
        begin_dispatch(source, lock);
        protocol::DecodeResult r = protocol::DecodeResult::Ok;
        std::uint32_t ran = 0;
        while (ran < max_commands && !in.empty()) {
            protocol::Decoder d{in, arenas.current(), &m_objects};
            bool queued = false;
            r = run_command(d, true, queued);
            arenas.after_command(m_calls, queued);
            ++ran;
            publish_object_count();
            if (r != protocol::DecodeResult::Ok || !after_each())
                break;
        }
        end_dispatch(source, ran, r);
        return r;
    }
    // Commands whose driver call may be queued: every vkCmd*, and the beginning and end of a
    // recording, whose results only a reply would carry (a command asking for one runs in
    // place). Their handlers make the call through record().
    static const std::array<bool, gen::command_type_count> queued_commands;
    // Reads one command's header and runs the command, its driver call queued (`queued`) when it
    // comes from a ring (or a stream a ring executes) and queues_call(). Both dispatch() and the
    // executed-stream loop go through here.
    // Inline: it is most of the per-command path of both.
    [[gnu::always_inline]] protocol::DecodeResult run_command(protocol::Decoder& d, bool from_ring,
                                                              bool& queued) {
        // A recorded command from a ring queues its driver call; anything else runs once every
        // queued call has (call_queue.h). The decision is made on the header the command then
        // runs as, read once, so a guest rewriting shared memory cannot split the two.
        std::uint32_t type = 0, flags = 0;
        const protocol::DecodeResult header = gen::read_command_header(d, type, flags);
        queued = header == protocol::DecodeResult::Ok && from_ring && queues_call(type, flags);
        if (!queued)
            m_calls.drain();
        if (header != protocol::DecodeResult::Ok)
            return header;
        m_recording = queued ? &m_calls : nullptr;
        const protocol::DecodeResult r = gen::run_command(*this, d, type, flags);
        m_recording = nullptr;
        return r;
    }
    bool queues_call(std::uint32_t type, std::uint32_t flags) const {
        return m_queue_recorded_calls && type < gen::command_type_count && queued_commands[type] &&
               !(flags & VK_COMMAND_GENERATE_REPLY_BIT_EXT);
    }
    // Blocks the current source until `done` holds, releasing the dispatch lock meanwhile.
    void wait_dispatch(const std::function<bool()>& done);
    // Wakes every source blocked in wait_dispatch() and every sleeping ring.
    void wake_all() { m_dispatch_cv.notify_all(); }
    std::condition_variable& dispatch_cv() { return m_dispatch_cv; }
    protocol::FatalState& fatal_state() { return *m_fatal; }
    // Told (under the dispatch lock) when a ring thread makes the context fatal, as no submit
    // returns that failure to anyone.
    void set_async_fatal_listener(std::function<void(const std::string&)> f) {
        m_async_fatal = std::move(f);
    }
    // The reason already names where it happened (a ring's reasons start with the ring).
    void report_async_fatal() {
        if (m_async_fatal)
            m_async_fatal(m_fatal->reason());
    }
    // ring.cpp: sets FATAL in the status of every ring, so that the guest learns at once that
    // the context is dead instead of waiting for the ALIVE bit to expire. Dispatch lock held.
    void report_fatal_to_rings();

    // Accounting: where the counters go, the quotas, and who hears of a refusal.
    void set_accounting(ContextCounters* counters, const ContextQuotas& quotas,
                        std::function<void(const std::string&)> on_refusal) {
        m_counters = counters;
        m_commands_dispatched = counters->commands.load(std::memory_order_relaxed);
        m_objects_published = counters->objects.load(std::memory_order_relaxed);
        m_quotas = quotas;
        m_on_refusal = std::move(on_refusal);
    }
    ContextCounters& counters() { return *m_counters; }
    const ContextQuotas& quotas() const { return m_quotas; }
    // Counts a refused allocation and tells the listener (first refusal of each kind only: a
    // guest looping on a full quota must not flood the log).
    void refused(const char* what, std::uint64_t bytes);
    // Whether one more object would go over the object quota (and then counts the refusal).
    bool refuse_new_object() override;
    bool at_object_quota() const { return m_objects.size() >= m_quotas.objects; }
    ObjectTables& objects() { return m_objects; }

    protocol::DecodeResult begin_reply(protocol::Decoder& d, protocol::Writer*& out) override;
    protocol::DecodeResult end_reply(protocol::Decoder& d, protocol::Writer& w) override;

    // transport.cpp: the Venus private commands that move bytes rather than call Vulkan
    protocol::DecodeResult
    on_vkSetReplyCommandStreamMESA(protocol::Decoder& d,
                                   gen::SetReplyCommandStreamMESAArgs& a) override;
    protocol::DecodeResult
    on_vkSeekReplyCommandStreamMESA(protocol::Decoder& d,
                                    gen::SeekReplyCommandStreamMESAArgs& a) override;
    protocol::DecodeResult
    on_vkExecuteCommandStreamsMESA(protocol::Decoder& d,
                                   gen::ExecuteCommandStreamsMESAArgs& a) override;

    // ring.cpp: rings and the commands that only make sense with them
    protocol::DecodeResult on_vkCreateRingMESA(protocol::Decoder& d,
                                               gen::CreateRingMESAArgs& a) override;
    protocol::DecodeResult on_vkDestroyRingMESA(protocol::Decoder& d,
                                                gen::DestroyRingMESAArgs& a) override;
    protocol::DecodeResult on_vkNotifyRingMESA(protocol::Decoder& d,
                                               gen::NotifyRingMESAArgs& a) override;
    protocol::DecodeResult on_vkWriteRingExtraMESA(protocol::Decoder& d,
                                                   gen::WriteRingExtraMESAArgs& a) override;
    protocol::DecodeResult
    on_vkSubmitVirtqueueSeqnoMESA(protocol::Decoder& d,
                                  gen::SubmitVirtqueueSeqnoMESAArgs& a) override;
    protocol::DecodeResult on_vkWaitVirtqueueSeqnoMESA(protocol::Decoder& d,
                                                       gen::WaitVirtqueueSeqnoMESAArgs& a) override;
    protocol::DecodeResult on_vkWaitRingSeqnoMESA(protocol::Decoder& d,
                                                  gen::WaitRingSeqnoMESAArgs& a) override;

    // memory_resource.cpp: device memory from context resources
    protocol::DecodeResult
    on_vkGetMemoryResourcePropertiesMESA(protocol::Decoder& d,
                                         gen::GetMemoryResourcePropertiesMESAArgs& a) override;
    // vkAllocateMemory with VkImportMemoryResourceInfoMESA chained.
    protocol::DecodeResult import_resource_memory(protocol::Decoder& d, gen::AllocateMemoryArgs& a,
                                                  DeviceState& dev, std::uint64_t id);

    // sync_resource.cpp: fence and semaphore payloads as virglrenderer's sync_fd paths
    protocol::DecodeResult on_vkResetFenceResourceMESA(protocol::Decoder& d,
                                                       gen::ResetFenceResourceMESAArgs& a) override;
    protocol::DecodeResult
    on_vkWaitSemaphoreResourceMESA(protocol::Decoder& d,
                                   gen::WaitSemaphoreResourceMESAArgs& a) override;
    protocol::DecodeResult
    on_vkImportSemaphoreResourceMESA(protocol::Decoder& d,
                                     gen::ImportSemaphoreResourceMESAArgs& a) override;

    // Refuse a command whose entry point the device (device.cpp) or instance (instance.cpp) of
    // its first argument did not load: not enabled by the guest, or missing in the driver.
    protocol::DecodeResult require_entry(protocol::Decoder& d, gen::CommandType type,
                                         const protocol::Ref<VkDevice>& device) override;
    protocol::DecodeResult require_entry(protocol::Decoder& d, gen::CommandType type,
                                         const protocol::Ref<VkQueue>& queue) override;
    // Every vkCmd* comes through here and the handler's command_buffer_* after it: inline up to
    // a hit on the table's last entry and one bit, everything else a tail call.
    protocol::DecodeResult require_entry(protocol::Decoder& d, gen::CommandType type,
                                         const protocol::Ref<VkCommandBuffer>& cb) override {
        const DeviceState* dev = last_recording_device(cb.id);
        if (dev && dev->entries[static_cast<std::size_t>(type)]) [[likely]]
            return protocol::DecodeResult::Ok;
        return require_recording_entry(d, type, cb.id);
    }
    protocol::DecodeResult require_entry(protocol::Decoder& d, gen::CommandType type,
                                         const protocol::Ref<VkInstance>& instance) override;
    protocol::DecodeResult require_entry(protocol::Decoder& d, gen::CommandType type,
                                         const protocol::Ref<VkPhysicalDevice>& pd) override;

    // instance.cpp
    protocol::DecodeResult
    on_vkEnumerateInstanceVersion(protocol::Decoder& d,
                                  gen::EnumerateInstanceVersionArgs& a) override;
    protocol::DecodeResult on_vkEnumerateInstanceExtensionProperties(
        protocol::Decoder& d, gen::EnumerateInstanceExtensionPropertiesArgs& a) override;
    protocol::DecodeResult on_vkCreateInstance(protocol::Decoder& d,
                                               gen::CreateInstanceArgs& a) override;
    protocol::DecodeResult on_vkDestroyInstance(protocol::Decoder& d,
                                                gen::DestroyInstanceArgs& a) override;
    protocol::DecodeResult
    on_vkEnumeratePhysicalDevices(protocol::Decoder& d,
                                  gen::EnumeratePhysicalDevicesArgs& a) override;
    protocol::DecodeResult
    on_vkEnumeratePhysicalDeviceGroups(protocol::Decoder& d,
                                       gen::EnumeratePhysicalDeviceGroupsArgs& a) override;

    // physical_device.cpp
    protocol::DecodeResult
    on_vkGetPhysicalDeviceProperties(protocol::Decoder& d,
                                     gen::GetPhysicalDevicePropertiesArgs& a) override;
    protocol::DecodeResult
    on_vkGetPhysicalDeviceProperties2(protocol::Decoder& d,
                                      gen::GetPhysicalDeviceProperties2Args& a) override;
    protocol::DecodeResult
    on_vkGetPhysicalDeviceFeatures(protocol::Decoder& d,
                                   gen::GetPhysicalDeviceFeaturesArgs& a) override;
    protocol::DecodeResult
    on_vkGetPhysicalDeviceFeatures2(protocol::Decoder& d,
                                    gen::GetPhysicalDeviceFeatures2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceQueueFamilyProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceQueueFamilyProperties2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceMemoryProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceMemoryProperties2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceFormatProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceFormatProperties2Args& a) override;
    protocol::DecodeResult on_vkEnumerateDeviceExtensionProperties(
        protocol::Decoder& d, gen::EnumerateDeviceExtensionPropertiesArgs& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceImageFormatProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceImageFormatProperties2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceSparseImageFormatProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceSparseImageFormatProperties2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceExternalBufferProperties(
        protocol::Decoder& d, gen::GetPhysicalDeviceExternalBufferPropertiesArgs& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceExternalFenceProperties(
        protocol::Decoder& d, gen::GetPhysicalDeviceExternalFencePropertiesArgs& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceExternalSemaphoreProperties(
        protocol::Decoder& d, gen::GetPhysicalDeviceExternalSemaphorePropertiesArgs& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceCalibrateableTimeDomainsKHR(
        protocol::Decoder& d, gen::GetPhysicalDeviceCalibrateableTimeDomainsKHRArgs& a) override;

    // device.cpp
    protocol::DecodeResult on_vkCreateDevice(protocol::Decoder& d,
                                             gen::CreateDeviceArgs& a) override;
    protocol::DecodeResult on_vkDestroyDevice(protocol::Decoder& d,
                                              gen::DestroyDeviceArgs& a) override;
    protocol::DecodeResult on_vkGetDeviceQueue2(protocol::Decoder& d,
                                                gen::GetDeviceQueue2Args& a) override;
    protocol::DecodeResult on_vkDeviceWaitIdle(protocol::Decoder& d,
                                               gen::DeviceWaitIdleArgs& a) override;
    protocol::DecodeResult
    on_vkGetDeviceGroupPeerMemoryFeatures(protocol::Decoder& d,
                                          gen::GetDeviceGroupPeerMemoryFeaturesArgs& a) override;

    // command_buffer.cpp
    protocol::DecodeResult on_vkCreateCommandPool(protocol::Decoder& d,
                                                  gen::CreateCommandPoolArgs& a) override;
    protocol::DecodeResult on_vkDestroyCommandPool(protocol::Decoder& d,
                                                   gen::DestroyCommandPoolArgs& a) override;
    protocol::DecodeResult on_vkAllocateCommandBuffers(protocol::Decoder& d,
                                                       gen::AllocateCommandBuffersArgs& a) override;
    protocol::DecodeResult on_vkFreeCommandBuffers(protocol::Decoder& d,
                                                   gen::FreeCommandBuffersArgs& a) override;
    protocol::DecodeResult on_vkBeginCommandBuffer(protocol::Decoder& d,
                                                   gen::BeginCommandBufferArgs& a) override;
    protocol::DecodeResult on_vkEndCommandBuffer(protocol::Decoder& d,
                                                 gen::EndCommandBufferArgs& a) override;
    protocol::DecodeResult command_buffer_dispatch(protocol::Decoder&,
                                                   const protocol::Ref<VkCommandBuffer>& cb,
                                                   const gen::DeviceDispatch*& out) override {
        if (DeviceState* dev = last_recording_device(cb.id)) [[likely]] {
            out = &dev->dispatch;
            return protocol::DecodeResult::Ok;
        }
        return recording_dispatch(cb.id, out);
    }
    // The device a live command buffer records for; null for any other id.
    DeviceState* recording_device(std::uint64_t id) {
        ObjectEntry<VkCommandBuffer>* entry = m_objects.find<VkCommandBuffer>(id);
        return entry ? static_cast<const DeviceChildState*>(entry->state.get())->device : nullptr;
    }
    // The same from the command buffer table's last hit alone: null when `id` is not that one.
    DeviceState* last_recording_device(std::uint64_t id) const {
        ObjectEntry<VkCommandBuffer>* entry = m_objects.table<VkCommandBuffer>().last_hit(id);
        return entry ? static_cast<const DeviceChildState*>(entry->state.get())->device : nullptr;
    }
    // The slow halves of the three above (command_buffer.cpp): the full lookup, and the fatal
    // naming what is wrong.
    [[gnu::noinline]] protocol::DecodeResult
    require_recording_entry(protocol::Decoder& d, gen::CommandType type, std::uint64_t id);
    [[gnu::noinline]] protocol::DecodeResult recording_dispatch(std::uint64_t id,
                                                                const gen::DeviceDispatch*& out);
    [[gnu::noinline]] protocol::DecodeResult recording_device_of(std::uint64_t id,
                                                                 DeviceState*& out);
    // Fatal, naming what the id is instead of a command buffer.
    [[gnu::cold]] protocol::DecodeResult missing_command_buffer(std::uint64_t id);
    [[gnu::cold]] static protocol::DecodeResult entry_missing(protocol::Decoder& d,
                                                              gen::CommandType type);

    // device.cpp: plain device children, created and destroyed by generated handlers
    protocol::DecodeResult device_entry(protocol::Decoder& d, const protocol::Ref<VkDevice>& device,
                                        const gen::DeviceDispatch*& out) override;
    protocol::DecodeResult new_device_child(protocol::Decoder& d, std::uint64_t id) override;
    protocol::DecodeResult device_child_created(protocol::Decoder& d,
                                                const protocol::Ref<VkDevice>& device,
                                                VkObjectType type, std::uint64_t id,
                                                std::uint64_t host) override;
    protocol::DecodeResult check_device_child(protocol::Decoder& d,
                                              const protocol::Ref<VkDevice>& device,
                                              VkObjectType type, std::uint64_t id) override;
    protocol::DecodeResult device_child_destroyed(protocol::Decoder& d,
                                                  const protocol::Ref<VkDevice>& device,
                                                  VkObjectType type, std::uint64_t id) override;

    // memory.cpp
    protocol::DecodeResult on_vkAllocateMemory(protocol::Decoder& d,
                                               gen::AllocateMemoryArgs& a) override;
    protocol::DecodeResult on_vkFreeMemory(protocol::Decoder& d, gen::FreeMemoryArgs& a) override;
    protocol::DecodeResult
    on_vkGetBufferMemoryRequirements2(protocol::Decoder& d,
                                      gen::GetBufferMemoryRequirements2Args& a) override;
    protocol::DecodeResult on_vkBindBufferMemory2(protocol::Decoder& d,
                                                  gen::BindBufferMemory2Args& a) override;
    // The memfd behind a memory object, for a blob resource; nullopt when the memory is not ours
    // to hand out (not host-visible, or the driver could not import host memory).
    std::optional<MemoryExport> export_memory(std::uint64_t memory_id);
    // The same, for a blob: once per memory object; a second request gets `repeated`.
    std::optional<MemoryExport> export_memory_once(std::uint64_t memory_id);

    // descriptor.cpp
    protocol::DecodeResult on_vkAllocateDescriptorSets(protocol::Decoder& d,
                                                       gen::AllocateDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkFreeDescriptorSets(protocol::Decoder& d,
                                                   gen::FreeDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkResetDescriptorPool(protocol::Decoder& d,
                                                    gen::ResetDescriptorPoolArgs& a) override;
    protocol::DecodeResult on_vkDestroyDescriptorPool(protocol::Decoder& d,
                                                      gen::DestroyDescriptorPoolArgs& a) override;
    protocol::DecodeResult on_vkUpdateDescriptorSets(protocol::Decoder& d,
                                                     gen::UpdateDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkCreateComputePipelines(protocol::Decoder& d,
                                                       gen::CreateComputePipelinesArgs& a) override;
    protocol::DecodeResult
    on_vkCreateDescriptorSetLayout(protocol::Decoder& d,
                                   gen::CreateDescriptorSetLayoutArgs& a) override;
    protocol::DecodeResult
    on_vkDestroyDescriptorSetLayout(protocol::Decoder& d,
                                    gen::DestroyDescriptorSetLayoutArgs& a) override;
    protocol::DecodeResult on_vkCreatePipelineLayout(protocol::Decoder& d,
                                                     gen::CreatePipelineLayoutArgs& a) override;
    protocol::DecodeResult on_vkDestroyPipelineLayout(protocol::Decoder& d,
                                                      gen::DestroyPipelineLayoutArgs& a) override;
    protocol::DecodeResult on_vkCmdBindDescriptorSets(protocol::Decoder& d,
                                                      gen::CmdBindDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkCmdPushDescriptorSet(protocol::Decoder& d,
                                                     gen::CmdPushDescriptorSetArgs& a) override;
#ifdef VN_GEN_HAS_vkCmdBindDescriptorSets2
    protocol::DecodeResult on_vkCmdBindDescriptorSets2(protocol::Decoder& d,
                                                       gen::CmdBindDescriptorSets2Args& a) override;
#endif
#ifdef VN_GEN_HAS_vkCmdPushDescriptorSet2
    protocol::DecodeResult on_vkCmdPushDescriptorSet2(protocol::Decoder& d,
                                                      gen::CmdPushDescriptorSet2Args& a) override;
#endif

    // buffer.cpp
    protocol::DecodeResult on_vkCreateBuffer(protocol::Decoder& d,
                                             gen::CreateBufferArgs& a) override;
    protocol::DecodeResult on_vkDestroyBuffer(protocol::Decoder& d,
                                              gen::DestroyBufferArgs& a) override;
    protocol::DecodeResult on_vkCreateBufferView(protocol::Decoder& d,
                                                 gen::CreateBufferViewArgs& a) override;

    // image.cpp
    protocol::DecodeResult on_vkCreateImage(protocol::Decoder& d, gen::CreateImageArgs& a) override;
    protocol::DecodeResult on_vkDestroyImage(protocol::Decoder& d,
                                             gen::DestroyImageArgs& a) override;
    protocol::DecodeResult
    on_vkGetImageMemoryRequirements(protocol::Decoder& d,
                                    gen::GetImageMemoryRequirementsArgs& a) override;
    protocol::DecodeResult
    on_vkGetImageSparseMemoryRequirements(protocol::Decoder& d,
                                          gen::GetImageSparseMemoryRequirementsArgs& a) override;
    protocol::DecodeResult on_vkBindImageMemory(protocol::Decoder& d,
                                                gen::BindImageMemoryArgs& a) override;
    protocol::DecodeResult on_vkBindImageMemory2(protocol::Decoder& d,
                                                 gen::BindImageMemory2Args& a) override;
    protocol::DecodeResult
    on_vkGetImageSubresourceLayout(protocol::Decoder& d,
                                   gen::GetImageSubresourceLayoutArgs& a) override;
#ifdef VN_GEN_HAS_vkGetImageSubresourceLayout2
    protocol::DecodeResult
    on_vkGetImageSubresourceLayout2(protocol::Decoder& d,
                                    gen::GetImageSubresourceLayout2Args& a) override;
#endif
#ifdef VN_GEN_HAS_vkGetDeviceImageSubresourceLayout
    protocol::DecodeResult
    on_vkGetDeviceImageSubresourceLayout(protocol::Decoder& d,
                                         gen::GetDeviceImageSubresourceLayoutArgs& a) override;
#endif
    // host_image_copy.cpp
#ifdef VN_GEN_HAS_vkCopyMemoryToImageMESA
    protocol::DecodeResult on_vkCopyMemoryToImageMESA(protocol::Decoder& d,
                                                      gen::CopyMemoryToImageMESAArgs& a) override;
    protocol::DecodeResult on_vkCopyImageToMemoryMESA(protocol::Decoder& d,
                                                      gen::CopyImageToMemoryMESAArgs& a) override;
#endif
#ifdef VN_GEN_HAS_vkCopyImageToImage
    protocol::DecodeResult on_vkCopyImageToImage(protocol::Decoder& d,
                                                 gen::CopyImageToImageArgs& a) override;
    protocol::DecodeResult on_vkTransitionImageLayout(protocol::Decoder& d,
                                                      gen::TransitionImageLayoutArgs& a) override;
#endif
    protocol::DecodeResult on_vkCreateImageView(protocol::Decoder& d,
                                                gen::CreateImageViewArgs& a) override;
    protocol::DecodeResult on_vkDestroyImageView(protocol::Decoder& d,
                                                 gen::DestroyImageViewArgs& a) override;

    // render_pass.cpp: render passes, framebuffers, and the commands that begin rendering
    protocol::DecodeResult on_vkCreateRenderPass(protocol::Decoder& d,
                                                 gen::CreateRenderPassArgs& a) override;
    protocol::DecodeResult on_vkCreateRenderPass2(protocol::Decoder& d,
                                                  gen::CreateRenderPass2Args& a) override;
    protocol::DecodeResult on_vkDestroyRenderPass(protocol::Decoder& d,
                                                  gen::DestroyRenderPassArgs& a) override;
    protocol::DecodeResult on_vkCreateFramebuffer(protocol::Decoder& d,
                                                  gen::CreateFramebufferArgs& a) override;
    protocol::DecodeResult on_vkDestroyFramebuffer(protocol::Decoder& d,
                                                   gen::DestroyFramebufferArgs& a) override;
    protocol::DecodeResult on_vkCmdBeginRenderPass(protocol::Decoder& d,
                                                   gen::CmdBeginRenderPassArgs& a) override;
    protocol::DecodeResult on_vkCmdBeginRenderPass2(protocol::Decoder& d,
                                                    gen::CmdBeginRenderPass2Args& a) override;
    protocol::DecodeResult on_vkCmdBeginRendering(protocol::Decoder& d,
                                                  gen::CmdBeginRenderingArgs& a) override;

    // pipeline.cpp
    protocol::DecodeResult
    on_vkCreateGraphicsPipelines(protocol::Decoder& d,
                                 gen::CreateGraphicsPipelinesArgs& a) override;
    protocol::DecodeResult on_vkGetPipelineCacheData(protocol::Decoder& d,
                                                     gen::GetPipelineCacheDataArgs& a) override;

    // query.cpp
    protocol::DecodeResult on_vkCreateQueryPool(protocol::Decoder& d,
                                                gen::CreateQueryPoolArgs& a) override;
    protocol::DecodeResult on_vkDestroyQueryPool(protocol::Decoder& d,
                                                 gen::DestroyQueryPoolArgs& a) override;
    protocol::DecodeResult on_vkResetQueryPool(protocol::Decoder& d,
                                               gen::ResetQueryPoolArgs& a) override;
    protocol::DecodeResult on_vkGetQueryPoolResults(protocol::Decoder& d,
                                                    gen::GetQueryPoolResultsArgs& a) override;
    protocol::DecodeResult on_vkCmdBeginQuery(protocol::Decoder& d,
                                              gen::CmdBeginQueryArgs& a) override;
    protocol::DecodeResult on_vkCmdEndQuery(protocol::Decoder& d, gen::CmdEndQueryArgs& a) override;
    protocol::DecodeResult on_vkCmdResetQueryPool(protocol::Decoder& d,
                                                  gen::CmdResetQueryPoolArgs& a) override;
    protocol::DecodeResult on_vkCmdWriteTimestamp(protocol::Decoder& d,
                                                  gen::CmdWriteTimestampArgs& a) override;
    protocol::DecodeResult on_vkCmdWriteTimestamp2(protocol::Decoder& d,
                                                   gen::CmdWriteTimestamp2Args& a) override;
    protocol::DecodeResult
    on_vkCmdCopyQueryPoolResults(protocol::Decoder& d,
                                 gen::CmdCopyQueryPoolResultsArgs& a) override;

    // command_ranges.cpp: commands that name ranges of buffers and images
    protocol::DecodeResult on_vkCmdFillBuffer(protocol::Decoder& d,
                                              gen::CmdFillBufferArgs& a) override;
    protocol::DecodeResult on_vkCmdUpdateBuffer(protocol::Decoder& d,
                                                gen::CmdUpdateBufferArgs& a) override;
    protocol::DecodeResult on_vkCmdCopyBuffer(protocol::Decoder& d,
                                              gen::CmdCopyBufferArgs& a) override;
    protocol::DecodeResult on_vkCmdCopyBuffer2(protocol::Decoder& d,
                                               gen::CmdCopyBuffer2Args& a) override;
    protocol::DecodeResult on_vkCmdCopyBufferToImage(protocol::Decoder& d,
                                                     gen::CmdCopyBufferToImageArgs& a) override;
    protocol::DecodeResult on_vkCmdCopyBufferToImage2(protocol::Decoder& d,
                                                      gen::CmdCopyBufferToImage2Args& a) override;
    protocol::DecodeResult on_vkCmdCopyImageToBuffer(protocol::Decoder& d,
                                                     gen::CmdCopyImageToBufferArgs& a) override;
    protocol::DecodeResult on_vkCmdCopyImageToBuffer2(protocol::Decoder& d,
                                                      gen::CmdCopyImageToBuffer2Args& a) override;
    protocol::DecodeResult on_vkCmdBindVertexBuffers(protocol::Decoder& d,
                                                     gen::CmdBindVertexBuffersArgs& a) override;
    protocol::DecodeResult on_vkCmdBindVertexBuffers2(protocol::Decoder& d,
                                                      gen::CmdBindVertexBuffers2Args& a) override;
    protocol::DecodeResult on_vkCmdBindIndexBuffer(protocol::Decoder& d,
                                                   gen::CmdBindIndexBufferArgs& a) override;
#ifdef VN_GEN_HAS_vkCmdBindIndexBuffer2
    protocol::DecodeResult on_vkCmdBindIndexBuffer2(protocol::Decoder& d,
                                                    gen::CmdBindIndexBuffer2Args& a) override;
#endif
    protocol::DecodeResult on_vkCmdSetViewport(protocol::Decoder& d,
                                               gen::CmdSetViewportArgs& a) override;
    protocol::DecodeResult on_vkCmdSetScissor(protocol::Decoder& d,
                                              gen::CmdSetScissorArgs& a) override;
    protocol::DecodeResult
    on_vkCmdSetViewportWithCount(protocol::Decoder& d,
                                 gen::CmdSetViewportWithCountArgs& a) override;
    protocol::DecodeResult on_vkCmdSetScissorWithCount(protocol::Decoder& d,
                                                       gen::CmdSetScissorWithCountArgs& a) override;
    protocol::DecodeResult
    on_vkCmdSetColorWriteEnableEXT(protocol::Decoder& d,
                                   gen::CmdSetColorWriteEnableEXTArgs& a) override;
    protocol::DecodeResult on_vkCmdSetVertexInputEXT(protocol::Decoder& d,
                                                     gen::CmdSetVertexInputEXTArgs& a) override;
    // Per-attachment blend state (VK_EXT_extended_dynamic_state3): attachment ranges.
    protocol::DecodeResult
    on_vkCmdSetColorBlendEnableEXT(protocol::Decoder& d,
                                   gen::CmdSetColorBlendEnableEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdSetColorBlendEquationEXT(protocol::Decoder& d,
                                     gen::CmdSetColorBlendEquationEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdSetColorWriteMaskEXT(protocol::Decoder& d,
                                 gen::CmdSetColorWriteMaskEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdSetColorBlendAdvancedEXT(protocol::Decoder& d,
                                     gen::CmdSetColorBlendAdvancedEXTArgs& a) override;

    // transform_feedback.cpp: binding, counter-buffer and stream ranges.
    protocol::DecodeResult on_vkCmdBindTransformFeedbackBuffersEXT(
        protocol::Decoder& d, gen::CmdBindTransformFeedbackBuffersEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdBeginTransformFeedbackEXT(protocol::Decoder& d,
                                      gen::CmdBeginTransformFeedbackEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdEndTransformFeedbackEXT(protocol::Decoder& d,
                                    gen::CmdEndTransformFeedbackEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdBeginQueryIndexedEXT(protocol::Decoder& d,
                                 gen::CmdBeginQueryIndexedEXTArgs& a) override;
    protocol::DecodeResult on_vkCmdEndQueryIndexedEXT(protocol::Decoder& d,
                                                      gen::CmdEndQueryIndexedEXTArgs& a) override;
    protocol::DecodeResult
    on_vkCmdDrawIndirectByteCountEXT(protocol::Decoder& d,
                                     gen::CmdDrawIndirectByteCountEXTArgs& a) override;
#ifdef VN_GEN_HAS_vkCmdSetRenderingAttachmentLocations
    protocol::DecodeResult on_vkCmdSetRenderingAttachmentLocations(
        protocol::Decoder& d, gen::CmdSetRenderingAttachmentLocationsArgs& a) override;
#endif
#ifdef VN_GEN_HAS_vkCmdSetRenderingInputAttachmentIndices
    protocol::DecodeResult on_vkCmdSetRenderingInputAttachmentIndices(
        protocol::Decoder& d, gen::CmdSetRenderingInputAttachmentIndicesArgs& a) override;
#endif
    protocol::DecodeResult on_vkCmdPushConstants(protocol::Decoder& d,
                                                 gen::CmdPushConstantsArgs& a) override;
#ifdef VN_GEN_HAS_vkCmdPushConstants2
    protocol::DecodeResult on_vkCmdPushConstants2(protocol::Decoder& d,
                                                  gen::CmdPushConstants2Args& a) override;
#endif
    protocol::DecodeResult
    on_vkCmdBeginConditionalRenderingEXT(protocol::Decoder& d,
                                         gen::CmdBeginConditionalRenderingEXTArgs& a) override;
    protocol::DecodeResult on_vkCmdDrawIndirect(protocol::Decoder& d,
                                                gen::CmdDrawIndirectArgs& a) override;
    protocol::DecodeResult on_vkCmdDrawIndexedIndirect(protocol::Decoder& d,
                                                       gen::CmdDrawIndexedIndirectArgs& a) override;
    protocol::DecodeResult on_vkCmdDrawIndirectCount(protocol::Decoder& d,
                                                     gen::CmdDrawIndirectCountArgs& a) override;
    protocol::DecodeResult
    on_vkCmdDrawIndexedIndirectCount(protocol::Decoder& d,
                                     gen::CmdDrawIndexedIndirectCountArgs& a) override;
    protocol::DecodeResult on_vkCmdDispatchIndirect(protocol::Decoder& d,
                                                    gen::CmdDispatchIndirectArgs& a) override;
    protocol::DecodeResult on_vkCmdCopyImage(protocol::Decoder& d,
                                             gen::CmdCopyImageArgs& a) override;
    protocol::DecodeResult on_vkCmdCopyImage2(protocol::Decoder& d,
                                              gen::CmdCopyImage2Args& a) override;
    protocol::DecodeResult on_vkCmdBlitImage(protocol::Decoder& d,
                                             gen::CmdBlitImageArgs& a) override;
    protocol::DecodeResult on_vkCmdBlitImage2(protocol::Decoder& d,
                                              gen::CmdBlitImage2Args& a) override;
    protocol::DecodeResult on_vkCmdResolveImage(protocol::Decoder& d,
                                                gen::CmdResolveImageArgs& a) override;
    protocol::DecodeResult on_vkCmdResolveImage2(protocol::Decoder& d,
                                                 gen::CmdResolveImage2Args& a) override;
    protocol::DecodeResult on_vkCmdClearColorImage(protocol::Decoder& d,
                                                   gen::CmdClearColorImageArgs& a) override;
    protocol::DecodeResult
    on_vkCmdClearDepthStencilImage(protocol::Decoder& d,
                                   gen::CmdClearDepthStencilImageArgs& a) override;

    // sync.cpp
    protocol::DecodeResult on_vkGetFenceStatus(protocol::Decoder& d,
                                               gen::GetFenceStatusArgs& a) override;
    protocol::DecodeResult on_vkWaitForFences(protocol::Decoder& d,
                                              gen::WaitForFencesArgs& a) override;
    protocol::DecodeResult on_vkResetFences(protocol::Decoder& d, gen::ResetFencesArgs& a) override;
    protocol::DecodeResult on_vkQueueSubmit2(protocol::Decoder& d,
                                             gen::QueueSubmit2Args& a) override;
    protocol::DecodeResult on_vkQueueWaitIdle(protocol::Decoder& d,
                                              gen::QueueWaitIdleArgs& a) override;
    protocol::DecodeResult on_vkQueueSubmit(protocol::Decoder& d, gen::QueueSubmitArgs& a) override;
    protocol::DecodeResult on_vkCreateSemaphore(protocol::Decoder& d,
                                                gen::CreateSemaphoreArgs& a) override;
    protocol::DecodeResult on_vkDestroySemaphore(protocol::Decoder& d,
                                                 gen::DestroySemaphoreArgs& a) override;

  private:
    protocol::DecodeResult device_of(protocol::Decoder& d, std::uint64_t device_id,
                                     DeviceState*& out);
    protocol::DecodeResult queue_device(protocol::Decoder& d, std::uint64_t queue_id,
                                        DeviceState*& out);
    protocol::DecodeResult check_new_ids(protocol::Decoder& d, const std::uint64_t* ids,
                                         std::uint32_t n);
    protocol::DecodeResult forget_pool_sets(DeviceState& dev, std::uint64_t pool_id);
    // A new device child: the id must be free; it is recorded once the host object exists.
    protocol::DecodeResult check_new_id(protocol::Decoder& d, std::uint64_t id);
    // After vkCreate*Pipelines: tables the pipelines the driver created under their guest ids,
    // and sets the others' ids in `reply` to null. A batch may fail with some pipelines made
    // (VK_PIPELINE_COMPILE_REQUIRED on the ones with FAIL_ON_PIPELINE_COMPILE_REQUIRED), and
    // Mesa's driver learns which from the reply: it frees the ones that come back null and keeps
    // the rest, which it later binds and destroys.
    protocol::DecodeResult keep_created_pipelines(DeviceState& dev,
                                                  const std::vector<std::uint64_t>& ids,
                                                  const std::vector<VkPipeline>& hosts,
                                                  VkPipeline* reply);
    template <typename H>
    protocol::DecodeResult add_child(DeviceState& dev, std::uint64_t id, H host,
                                     std::uint64_t pool = 0) {
        VN_TRY(m_objects.add<H>(id, host, std::make_unique<DeviceChildState>(dev, pool)));
        dev.children.emplace(id, HandleTraits<H>::object_type);
        return protocol::DecodeResult::Ok;
    }
    template <typename H>
    protocol::DecodeResult remove_child(DeviceState& dev, std::uint64_t id) {
        dev.children.erase(id);
        return m_objects.remove<H>(id);
    }
    // Destroys what the guest left behind on the host, then forgets it.
    void destroy_children(DeviceState& dev, VkDevice host);

    // The device a command buffer records for.
    protocol::DecodeResult command_buffer_device(protocol::Decoder&,
                                                 const protocol::Ref<VkCommandBuffer>& cb,
                                                 DeviceState*& out) {
        out = last_recording_device(cb.id);
        if (out) [[likely]]
            return protocol::DecodeResult::Ok;
        return recording_device_of(cb.id, out);
    }
    // command_ranges.cpp: [offset, offset + size) must lie inside the buffer; Fatal naming
    // `what` otherwise. VK_WHOLE_SIZE is not accepted here (callers resolve it).
    protocol::DecodeResult check_buffer_range(protocol::Decoder& d, const DeviceState& dev,
                                              VkBuffer buffer, VkDeviceSize offset,
                                              VkDeviceSize size, const char* what);
    protocol::DecodeResult check_buffer_image_copy(protocol::Decoder& d, const DeviceState& dev,
                                                   VkBuffer buffer, VkImage image,
                                                   const VkBufferImageCopy2& region,
                                                   const char* what);
    // The image side of a copy between an image and tightly addressed memory (a buffer, host
    // memory): one aspect, inside the image; `bytes` receives how much of the memory it
    // addresses from its start (bufferRowLength/bufferImageHeight, or their memory* twins).
    protocol::DecodeResult check_memory_image_copy(protocol::Decoder& d, const DeviceState& dev,
                                                   VkImage image, const VkBufferImageCopy2& region,
                                                   const char* what, VkDeviceSize& bytes);
    // A box [offset, offset + extent) of one level and some layers of a bound image; `block`
    // receives the texel block of the (first) aspect named.
    protocol::DecodeResult check_image_region(protocol::Decoder& d, const DeviceState& dev,
                                              VkImage image, const VkImageSubresourceLayers& s,
                                              const VkOffset3D& offset, const VkExtent3D& extent,
                                              const char* what, TexelBlock* block = nullptr);
    // One region of an image-to-image copy, both boxes (the destination's scaled by the two
    // formats' texel blocks; between a 3D and a 2D image, the 2D side's layers for the depth).
    // `dst_what` names the destination in messages, `what` the source.
    protocol::DecodeResult check_image_copy(protocol::Decoder& d, const DeviceState& dev,
                                            VkImage src, VkImage dst, const VkImageCopy2& r,
                                            const char* what, const char* dst_what = nullptr);
    // host_image_copy.cpp: an image a host copy may name (bound to live memory, made for host
    // transfers, on a device that enabled hostImageCopy).
    protocol::DecodeResult check_host_copy_image(protocol::Decoder& d, const DeviceState& dev,
                                                 VkImage image, const char* what);
    // One region of a host copy (VkHostImageCopyFlags `flags`) and the bytes of host memory it
    // addresses: tightly, as check_memory_image_copy, or for MEMCPY the driver's own layout.
    protocol::DecodeResult check_host_region(protocol::Decoder& d, const DeviceState& dev,
                                             VkDevice device, VkImage image, VkFlags flags,
                                             const VkBufferImageCopy2& region, const char* what,
                                             VkDeviceSize& bytes);
    // descriptor.cpp: descriptor writes against their sets (or the pushed set's layout), and
    // the buffer ranges they name.
    protocol::DecodeResult check_descriptor_writes(protocol::Decoder& d, const DeviceState& dev,
                                                   const VkWriteDescriptorSet* writes,
                                                   std::uint32_t count, const SetShape* push,
                                                   const char* what);
    // render_pass.cpp: a render pass begin against its render pass and framebuffer.
    protocol::DecodeResult check_render_pass_begin(protocol::Decoder& d, const DeviceState& dev,
                                                   const VkRenderPassBeginInfo& begin,
                                                   const char* what);
    // Levels and layers of a bound image, as clears name them.
    protocol::DecodeResult check_image_ranges(protocol::Decoder& d, const DeviceState& dev,
                                              VkImage image, std::uint32_t count,
                                              const VkImageSubresourceRange* ranges,
                                              const char* what);
    // command_ranges.cpp: [offset, offset + size) of a layout's push constant block.
    protocol::DecodeResult check_push_constants(protocol::Decoder& d, const DeviceState& dev,
                                                VkPipelineLayout layout, std::uint32_t offset,
                                                std::uint32_t size, const char* what);
    // descriptor.cpp: sets bound to a layout, and their dynamic offsets.
    protocol::DecodeResult
    check_bind_descriptor_sets(protocol::Decoder& d, const DeviceState& dev,
                               VkPipelineLayout layout, std::uint32_t first_set,
                               std::uint32_t set_count, const VkDescriptorSet* sets,
                               std::uint32_t dynamic_offset_count, const char* what);
    // descriptor.cpp: a pushed set against set `set` of the layout.
    protocol::DecodeResult check_push_descriptor_set(protocol::Decoder& d, const DeviceState& dev,
                                                     VkPipelineLayout layout, std::uint32_t set,
                                                     const VkWriteDescriptorSet* writes,
                                                     std::uint32_t count, const char* what);
    // query.cpp: queries [first, first + count) must exist in the pool.
    // transform_feedback.cpp: counter-buffer bindings and the 4 bytes each names.
    protocol::DecodeResult check_xfb_counters(protocol::Decoder& d, const DeviceState& dev,
                                              std::uint32_t first, std::uint32_t count,
                                              const VkBuffer* buffers, const VkDeviceSize* offsets,
                                              const char* what);
    protocol::DecodeResult check_queries(protocol::Decoder& d, const DeviceState& dev,
                                         VkQueryPool pool, std::uint32_t first, std::uint32_t count,
                                         const char* what, const QueryPoolShape** out = nullptr);
    // image.cpp: the requirements of one bind, checked against the memory it names.
    protocol::DecodeResult check_image_bind(protocol::Decoder& d, DeviceState& dev, VkDevice device,
                                            const VkBindImageMemoryInfo& bind);

    protocol::DecodeResult instance_of(protocol::Decoder& d, std::uint64_t physical_device_id,
                                       const InstanceState*& out);

    // A [offset, offset + size) window of a shm resource; Fatal when it is not inside one.
    protocol::DecodeResult shm_window(protocol::Decoder& d, std::uint32_t resource_id,
                                      std::size_t offset, std::size_t size, ShmRegion& out);

    // A context-path-only or ring-only command from the wrong source (fatal).
    protocol::DecodeResult context_only(protocol::Decoder& d, const char* command);

    ObjectTables& m_objects;
    protocol::FatalState* m_fatal;
    gen::GlobalDispatch m_global;
    ResourceProvider* m_resources = nullptr;
    std::mutex m_dispatch_mutex;
    std::condition_variable m_dispatch_cv;
    DispatchSource m_context_source;
    // The source whose command runs now (the context's when dispatched without dispatch()).
    DispatchSource* m_source = &m_context_source;
    std::unique_ptr<RingSet> m_rings;
    // The driver calls of recorded commands from rings, run on a thread of its own. Drained
    // before any other command runs; used where queue_recorded_calls() (executor.cpp) says.
    CallQueue m_calls;
    const bool m_queue_recorded_calls;
    bool m_shut_down = false;
    // One per queue timeline, as virglrenderer gives each bound queue a sync thread: a fence
    // waiting for long GPU work on one timeline does not hold back the others.
    std::map<std::uint32_t, std::unique_ptr<FenceThread>> m_fence_threads;
    std::function<void(const std::string&)> m_async_fatal;
    ContextCounters m_own_counters;
    ContextCounters* m_counters = &m_own_counters;
    std::uint64_t m_commands_dispatched = 0; // what m_counters->commands last got
    std::size_t m_objects_published = 0;     // what m_counters->objects last got
    // Every command of the context runs under the dispatch lock, so the counters have one writer
    // at a time: plain stores, not a locked read-modify-write of the page shared with the server
    // per command, and the object count only when it changed.
    void publish_object_count() {
        if (const std::size_t objects = m_objects.size(); objects != m_objects_published)
            [[unlikely]]
            publish_object_count_changed(objects);
    }
    void publish_object_count_changed(std::size_t objects);
    // Around the commands dispatch() and dispatch_run() run for `source`: its mark (a wait inside
    // a command lets other sources run, and each restores its own), then the command count and a
    // failure told to every ring.
    void begin_dispatch(DispatchSource& source, std::unique_lock<std::mutex>& lock) {
        source.lock = &lock;
        m_source = &source;
    }
    void end_dispatch(DispatchSource& source, std::uint32_t ran, protocol::DecodeResult r) {
        m_source = &m_context_source;
        source.lock = nullptr;
        m_commands_dispatched += ran;
        m_counters->commands.store(m_commands_dispatched, std::memory_order_relaxed);
        if (r != protocol::DecodeResult::Ok)
            report_fatal_to_rings();
    }
    ContextQuotas m_quotas;
    std::function<void(const std::string&)> m_on_refusal;
    unsigned m_refusals_reported = 0; // bit per kind
};

} // namespace vn::decoder
