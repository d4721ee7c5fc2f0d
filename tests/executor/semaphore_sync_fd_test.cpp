// Binary semaphores' sync_fd payloads as Mesa's Venus driver uses them (a signalled import of
// resource 0, and a wait that consumes a pending signal), on lavapipe. Where the driver cannot
// import a sync_fd (Debian 12's lavapipe has no VK_KHR_external_semaphore_fd), the executor
// emulates both and answers the sync_fd property query itself; where it can, the same sequences
// run through the driver. Either way the guest must be able to rely on them.
#include "device_objects.h"
#include "exposed_chain.h"
#include "guest_context.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace vn;
using namespace vn::test_guest;

namespace {

constexpr std::uint64_t sem_id = 0x7f0000030000, sem2_id = 0x7f0000031000,
                        timeline_id = 0x7f0000032000, fence_id = 0x7f0000033000,
                        fence2_id = 0x7f0000034000, device2_id = 0x7f0000035000,
                        other_sem_id = 0x7f0000036000;
constexpr std::uint64_t second = 1'000'000'000ull;

const protocol::Ref<VkDevice> dev{device_id, id<VkDevice>(device_id)};
const protocol::Ref<VkQueue> queue{queue_id, id<VkQueue>(queue_id)};

const protocol::Ref<VkPhysicalDevice> pd{physical_device_id,
                                         id<VkPhysicalDevice>(physical_device_id)};

// The driver's VkPhysicalDevice behind the guest's, and its instance.
VkPhysicalDevice host_pd(Context& c) {
    auto* entry = c.objects.find<VkPhysicalDevice>(physical_device_id);
    REQUIRE(entry);
    return entry->handle;
}
const decoder::InstanceState& instance_state(Context& c) {
    auto* entry = c.objects.find<VkInstance>(instance_id);
    REQUIRE(entry);
    return *static_cast<const decoder::InstanceState*>(entry->state.get());
}

VkSemaphore host_semaphore(Context& c, std::uint64_t id_value) {
    auto* entry = c.objects.find<VkSemaphore>(id_value);
    REQUIRE(entry);
    return entry->handle;
}

decoder::DeviceState& device_state(Context& c, std::uint64_t device = device_id) {
    auto* entry = c.objects.find<VkDevice>(device);
    REQUIRE(entry);
    return *static_cast<decoder::DeviceState*>(entry->state.get());
}

VkExternalSemaphoreProperties sync_fd_properties(Context& c, const void* chain) {
    VkPhysicalDeviceExternalSemaphoreInfo info{};
    info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO;
    info.pNext = chain;
    info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
    VkExternalSemaphoreProperties props{};
    props.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES;
    props.externalSemaphoreFeatures = 0xff; // overwritten by the answer
    gen::GetPhysicalDeviceExternalSemaphorePropertiesArgs a;
    a.physicalDevice = pd;
    a.pExternalSemaphoreInfo = &info;
    a.pExternalSemaphoreProperties = &props;
    return *c.call(a).pExternalSemaphoreProperties;
}

bool advertises(Context& c, const char* name) {
    std::uint32_t count = 0;
    gen::EnumerateDeviceExtensionPropertiesArgs a;
    a.physicalDevice = pd;
    a.pPropertyCount = &count;
    const auto counted = c.call(a);
    REQUIRE(counted.ret == VK_SUCCESS);
    count = *counted.pPropertyCount;
    std::vector<VkExtensionProperties> props(count);
    a.pProperties = props.data();
    const auto listed = c.call(a);
    REQUIRE(listed.ret == VK_SUCCESS);
    for (std::uint32_t i = 0; i < *listed.pPropertyCount; ++i)
        if (std::strcmp(listed.pProperties[i].extensionName, name) == 0)
            return true;
    return false;
}

// A device with VK_KHR_external_semaphore_fd, timeline semaphores and synchronization2, and its
// queue.
void sync_fd_device(Context& c) {
    VkPhysicalDeviceVulkan13Features v13{};
    v13.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES;
    v13.synchronization2 = VK_TRUE;
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.pNext = &v13;
    v12.timelineSemaphore = VK_TRUE;
    create_device(c, &v12, {decoder::kSemaphoreFdExtension});
    get_queue(c, dev);
}

// A binary semaphore as Mesa's driver creates one it may hand out as a sync_fd.
VkSemaphore exportable_semaphore(Context& c, std::uint64_t id_value,
                                 const protocol::Ref<VkDevice>& device = dev) {
    VkExportSemaphoreCreateInfo exported{};
    exported.sType = VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO;
    exported.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
    return create_semaphore(c, device, id_value, &exported);
}

VkSemaphore timeline_semaphore(Context& c, std::uint64_t id_value, std::uint64_t initial) {
    return create_timeline_semaphore(c, dev, id_value, initial);
}

gen::ImportSemaphoreResourceMESAArgs import_args(VkSemaphore sem, std::uint32_t resource,
                                                 VkImportSemaphoreResourceInfoMESA& info,
                                                 const protocol::Ref<VkDevice>& device = dev) {
    info = {};
    info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_RESOURCE_INFO_MESA;
    info.semaphore = sem;
    info.resourceId = resource;
    gen::ImportSemaphoreResourceMESAArgs a;
    a.device = device;
    a.pImportSemaphoreResourceInfo = &info;
    return a;
}

void import_signalled(Context& c, VkSemaphore sem) {
    VkImportSemaphoreResourceInfoMESA info;
    send(c, import_args(sem, 0, info));
}

void wait_resource(Context& c, std::uint64_t sem_id_value, VkSemaphore sem) {
    gen::WaitSemaphoreResourceMESAArgs a;
    a.device = dev;
    a.semaphore = {sem_id_value, sem};
    send(c, a);
}

// Submits `si` with `fence` (null: none).
void submit(Context& c, const VkSubmitInfo& si, VkFence fence, std::uint64_t fence_id_value) {
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    qs.fence = {fence ? fence_id_value : 0, fence};
    REQUIRE(c.call(qs).ret == VK_SUCCESS);
}

VkResult wait_fence(Context& c, VkFence fence, std::uint64_t timeout) {
    gen::WaitForFencesArgs wf;
    wf.device = dev;
    wf.fenceCount = 1;
    wf.pFences = &fence;
    wf.waitAll = VK_TRUE;
    wf.timeout = timeout;
    return c.call(wf).ret;
}

// A submission that only signals `sem`.
void signal(Context& c, const VkSemaphore& sem, VkFence fence = VK_NULL_HANDLE,
            std::uint64_t fence_id_value = 0) {
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &sem;
    submit(c, si, fence, fence_id_value);
}

// A submission that only waits on `sem`, with `fence`.
void wait_on(Context& c, const VkSemaphore& sem, VkFence fence, std::uint64_t fence_id_value) {
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &sem;
    si.pWaitDstStageMask = &stage;
    submit(c, si, fence, fence_id_value);
}

void idle(Context& c) {
    gen::DeviceWaitIdleArgs a;
    a.device = dev;
    REQUIRE(c.call(a).ret == VK_SUCCESS);
}

} // namespace

TEST_CASE("binary semaphores have sync_fd payloads, timeline semaphores none") {
    Context c;
    create_instance(c);
    enumerate_physical_devices(c);
    CHECK(advertises(c, decoder::kSemaphoreFdExtension));

    const VkExternalSemaphoreProperties binary = sync_fd_properties(c, nullptr);
    CHECK((binary.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) != 0);
    CHECK((binary.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) != 0);
    CHECK((binary.compatibleHandleTypes & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT) != 0);

    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_BINARY;
    const VkExternalSemaphoreProperties typed_binary = sync_fd_properties(c, &type);
    CHECK(typed_binary.externalSemaphoreFeatures == binary.externalSemaphoreFeatures);

    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    const VkExternalSemaphoreProperties timeline = sync_fd_properties(c, &type);
    CHECK((timeline.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) == 0);

    const decoder::InstanceState& inst = instance_state(c);
    if (decoder::emulates_semaphore_sync_fd(inst, host_pd(c))) {
        // The emulation's answer, exactly.
        CHECK(binary.externalSemaphoreFeatures == (VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT |
                                                   VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT));
        CHECK(binary.compatibleHandleTypes == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT);
        CHECK(binary.exportFromImportedHandleTypes ==
              VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT);
        CHECK(timeline.externalSemaphoreFeatures == 0);
        CHECK(timeline.compatibleHandleTypes == 0);
        CHECK(timeline.exportFromImportedHandleTypes == 0);
    }

    // Other handle types are the driver's answer (lavapipe exports opaque fds).
    VkPhysicalDeviceExternalSemaphoreInfo info{};
    info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO;
    info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
    VkExternalSemaphoreProperties driver{};
    driver.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES;
    inst.dispatch.GetPhysicalDeviceExternalSemaphoreProperties(host_pd(c), &info, &driver);
    VkExternalSemaphoreProperties ours{};
    ours.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES;
    gen::GetPhysicalDeviceExternalSemaphorePropertiesArgs a;
    a.physicalDevice = pd;
    a.pExternalSemaphoreInfo = &info;
    a.pExternalSemaphoreProperties = &ours;
    const auto reply = c.call(a);
    CHECK(reply.pExternalSemaphoreProperties->externalSemaphoreFeatures ==
          driver.externalSemaphoreFeatures);
    CHECK(reply.pExternalSemaphoreProperties->compatibleHandleTypes ==
          driver.compatibleHandleTypes);
}

TEST_CASE("a signalled sync_fd import satisfies the next wait on the semaphore") {
    Context c;
    sync_fd_device(c);
    const VkSemaphore sem = exportable_semaphore(c, sem_id);
    const VkFence fence = create_fence(c, dev, fence_id);
    const bool emulated = device_state(c).emulated_semaphore_sync_fd;

    SECTION("vkQueueSubmit") {
        import_signalled(c, sem);
        if (emulated)
            CHECK(device_state(c).signalled_imports == 1);
        wait_on(c, sem, fence, fence_id);
        CHECK(wait_fence(c, fence, second) == VK_SUCCESS);
    }
    SECTION("vkQueueSubmit2") {
        import_signalled(c, sem);
        VkSemaphoreSubmitInfo wait{};
        wait.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO;
        wait.semaphore = sem;
        wait.stageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT;
        VkSubmitInfo2 si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2;
        si.waitSemaphoreInfoCount = 1;
        si.pWaitSemaphoreInfos = &wait;
        gen::QueueSubmit2Args qs;
        qs.queue = queue;
        qs.submitCount = 1;
        qs.pSubmits = &si;
        qs.fence = {fence_id, fence};
        REQUIRE(c.call(qs).ret == VK_SUCCESS);
        CHECK(wait_fence(c, fence, second) == VK_SUCCESS);
    }
    SECTION("beside other waits, whose stages, timeline values and device indices stay theirs") {
        // [sem, timeline, sem2]: sem holds the signalled import; the timeline's value (1) and
        // sem2's real signal must still line up with them once sem is gone. Were the values
        // not taken along, the timeline would wait for sem's 1000 and the fence never signal.
        const VkSemaphore timeline = timeline_semaphore(c, timeline_id, 1);
        const VkSemaphore sem2 = exportable_semaphore(c, sem2_id);
        signal(c, sem2);
        import_signalled(c, sem);
        const VkSemaphore waits[] = {sem, timeline, sem2};
        const VkPipelineStageFlags stages[] = {VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                               VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
                                               VK_PIPELINE_STAGE_ALL_COMMANDS_BIT};
        const std::uint64_t values[] = {1000, 1, 0};
        const std::uint32_t indices[] = {0, 0, 0};
        VkDeviceGroupSubmitInfo group{};
        group.sType = VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO;
        group.waitSemaphoreCount = 3;
        group.pWaitSemaphoreDeviceIndices = indices;
        VkTimelineSemaphoreSubmitInfo values_info{};
        values_info.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
        values_info.pNext = &group;
        values_info.waitSemaphoreValueCount = 3;
        values_info.pWaitSemaphoreValues = values;
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.pNext = &values_info;
        si.waitSemaphoreCount = 3;
        si.pWaitSemaphores = waits;
        si.pWaitDstStageMask = stages;
        submit(c, si, fence, fence_id);
        const VkResult waited = wait_fence(c, fence, second);
        if (waited != VK_SUCCESS) {
            // Let the queue go before the device does.
            VkSemaphoreSignalInfo unblock{};
            unblock.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
            unblock.semaphore = timeline;
            unblock.value = 1000;
            gen::SignalSemaphoreArgs ss;
            ss.device = dev;
            ss.pSignalInfo = &unblock;
            c.call(ss);
        }
        CHECK(waited == VK_SUCCESS);
    }
    idle(c);
    CHECK(device_state(c).signalled_imports == 0);
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("a sync_fd wait consumes the semaphore's pending signal, so it can be signalled again") {
    Context c;
    sync_fd_device(c);
    const VkSemaphore sem = exportable_semaphore(c, sem_id);
    const VkFence fence = create_fence(c, dev, fence_id);
    const VkFence fence2 = create_fence(c, dev, fence2_id);

    SECTION("a signal from a submission") {
        signal(c, sem);
        wait_resource(c, sem_id, sem);
    }
    SECTION("a signalled import, consumed before any submission waits on it") {
        import_signalled(c, sem);
        wait_resource(c, sem_id, sem);
        CHECK(device_state(c).signalled_imports == 0);
    }
    // Signalling it again is only valid if nothing is left of the first signal.
    signal(c, sem, fence, fence_id);
    CHECK(wait_fence(c, fence, second) == VK_SUCCESS);
    wait_on(c, sem, fence2, fence2_id);
    CHECK(wait_fence(c, fence2, second) == VK_SUCCESS);
    idle(c);
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("destroying a semaphore or its device drops its signalled import") {
    Context c;
    sync_fd_device(c);
    const bool emulated = device_state(c).emulated_semaphore_sync_fd;
    VkSemaphore sem = exportable_semaphore(c, sem_id);
    const VkSemaphore host = host_semaphore(c, sem_id);
    import_signalled(c, sem);
    if (emulated) {
        CHECK(device_state(c).signalled_imports == 1);
        CHECK(device_state(c).semaphores.at(host).signalled_import);
    }

    SECTION("the semaphore") {
        gen::DestroySemaphoreArgs ds;
        ds.device = dev;
        ds.semaphore = {sem_id, sem};
        send(c, ds);
        CHECK(device_state(c).signalled_imports == 0);
        CHECK(device_state(c).semaphores.count(host) == 0);
        // A new semaphore (the driver may hand out the same handle) holds no payload of ours.
        exportable_semaphore(c, sem2_id);
        const auto& semaphores = device_state(c).semaphores;
        REQUIRE(semaphores.count(host_semaphore(c, sem2_id)) == 1);
        CHECK_FALSE(semaphores.at(host_semaphore(c, sem2_id)).signalled_import);
        CHECK(device_state(c).signalled_imports == 0);
    }
    SECTION("the device") {
        gen::DestroyDeviceArgs dd;
        dd.device = dev;
        send(c, dd);
        CHECK(c.objects.find<VkDevice>(device_id) == nullptr);
        CHECK(c.objects.find<VkSemaphore>(sem_id) == nullptr);
    }
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("the host driver sees no sync_fd it cannot make") {
    Context c;
    sync_fd_device(c);
    const auto& state = device_state(c);
    const bool emulated = decoder::emulates_semaphore_sync_fd(instance_state(c), host_pd(c));
    CHECK(state.emulated_semaphore_sync_fd == emulated);
    CHECK(state.strip_semaphore_sync_fd_export == emulated);
    // An exportable semaphore is created either way (lavapipe would refuse a sync_fd export it
    // cannot do, or the driver makes one).
    const VkSemaphore sem = exportable_semaphore(c, sem_id);
    CHECK(sem != VK_NULL_HANDLE);
    CHECK(c.objects.find<VkSemaphore>(sem_id) != nullptr);
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("sync_fd semaphore commands on what is no binary semaphore of the device are fatal") {
    Context c;
    sync_fd_device(c);
    const VkSemaphore sem = exportable_semaphore(c, sem_id);
    std::string expect;
    SECTION("an import of a real resource") {
        VkImportSemaphoreResourceInfoMESA info;
        CHECK(c.send(import_args(sem, 7, info)) == DecodeResult::Fatal);
        expect = "resource 7 cannot be imported";
    }
    SECTION("an import without its info") {
        gen::ImportSemaphoreResourceMESAArgs a;
        a.device = dev;
        a.pImportSemaphoreResourceInfo = nullptr;
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "vkImportSemaphoreResourceMESA";
    }
    SECTION("a signalled import into a timeline semaphore") {
        const VkSemaphore timeline = timeline_semaphore(c, timeline_id, 0);
        VkImportSemaphoreResourceInfoMESA info;
        CHECK(c.send(import_args(timeline, 0, info)) == DecodeResult::Fatal);
        expect = "a timeline semaphore has no sync_fd payload";
    }
    SECTION("a wait on a timeline semaphore") {
        const VkSemaphore timeline = timeline_semaphore(c, timeline_id, 0);
        gen::WaitSemaphoreResourceMESAArgs a;
        a.device = dev;
        a.semaphore = {timeline_id, timeline};
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "a timeline semaphore has no sync_fd payload";
    }
    SECTION("a semaphore of another device") {
        const float priority = 1.0f;
        VkDeviceQueueCreateInfo qci{};
        qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
        qci.queueCount = 1;
        qci.pQueuePriorities = &priority;
        const char* ext = decoder::kSemaphoreFdExtension;
        VkDeviceCreateInfo dci{};
        dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        dci.enabledExtensionCount = 1;
        dci.ppEnabledExtensionNames = &ext;
        VkDevice device2 = id<VkDevice>(device2_id);
        gen::CreateDeviceArgs cd;
        cd.physicalDevice = pd;
        cd.pCreateInfo = &dci;
        cd.pDevice = &device2;
        REQUIRE(c.call(cd).ret == VK_SUCCESS);
        const protocol::Ref<VkDevice> dev2{device2_id, device2};
        const VkSemaphore other = exportable_semaphore(c, other_sem_id, dev2);
        SECTION("imported into on this device") {
            VkImportSemaphoreResourceInfoMESA info;
            CHECK(c.send(import_args(other, 0, info)) == DecodeResult::Fatal);
        }
        SECTION("waited on on this device") {
            gen::WaitSemaphoreResourceMESAArgs a;
            a.device = dev;
            a.semaphore = {other_sem_id, other};
            CHECK(c.send(a) == DecodeResult::Fatal);
        }
        expect = "not a semaphore of this device";
    }
    SECTION("a destroyed semaphore") {
        gen::DestroySemaphoreArgs ds;
        ds.device = dev;
        ds.semaphore = {sem_id, sem};
        send(c, ds);
        gen::WaitSemaphoreResourceMESAArgs a;
        a.device = dev;
        a.semaphore = {sem_id, sem};
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "unknown VkSemaphore id";
    }
    INFO(c.reason());
    CHECK(c.reason().find(expect) != std::string::npos);
}
