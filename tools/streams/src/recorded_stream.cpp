#include "vn/test/recorded_stream.h"

#include "vn_protocol.gen.h"

namespace vn::test {

namespace {

template <typename H>
H id(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

template <typename H>
protocol::Ref<H> ref(std::uint64_t v) {
    return {v, id<H>(v)};
}

class Recorder {
  public:
    RecordedStream out;

    template <typename Args>
    void emit(const Args& a, std::uint32_t flags = 0) {
        protocol::Writer w(out.bytes);
        gen::encode_args(w, flags, a);
        ++out.commands;
    }
};

enum : std::uint64_t {
    instance_id = 0x1000,
    physical_device_id = 0x1001,
    device_id = 0x1002,
    pool_id = 0x1003,
    cmd_id = 0x1004,
    set_layout_id = 0x1005,
    layout_id = 0x1006,
    shader_id = 0x1007,
    pipeline_id = 0x1008,
    buffer_id = 0x1009,
    desc_pool_id = 0x100a,
    set_id = 0x100b,
};

} // namespace

RecordedStream record_command_buffer_stream(std::size_t batches) {
    Recorder r;

    VkApplicationInfo app{
        VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "bench", 1, "venus", 1, VK_API_VERSION_1_3};
    VkInstanceCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pApplicationInfo = &app;
    VkInstance instance = id<VkInstance>(instance_id);
    gen::CreateInstanceArgs create_instance;
    create_instance.pCreateInfo = &ici;
    create_instance.pInstance = &instance;
    r.emit(create_instance, VK_COMMAND_GENERATE_REPLY_BIT_EXT);

    std::uint32_t count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(physical_device_id);
    gen::EnumeratePhysicalDevicesArgs enumerate;
    enumerate.instance = ref<VkInstance>(instance_id);
    enumerate.pPhysicalDeviceCount = &count;
    enumerate.pPhysicalDevices = &pd;
    r.emit(enumerate, VK_COMMAND_GENERATE_REPLY_BIT_EXT);

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{
        VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs create_device;
    create_device.physicalDevice = ref<VkPhysicalDevice>(physical_device_id);
    create_device.pCreateInfo = &dci;
    create_device.pDevice = &device;
    r.emit(create_device, VK_COMMAND_GENERATE_REPLY_BIT_EXT);

    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr, 0, 0};
    VkCommandPool pool = id<VkCommandPool>(pool_id);
    gen::CreateCommandPoolArgs create_pool;
    create_pool.device = ref<VkDevice>(device_id);
    create_pool.pCreateInfo = &pci;
    create_pool.pCommandPool = &pool;
    r.emit(create_pool);

    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool,
                                    VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
    VkCommandBuffer cb = id<VkCommandBuffer>(cmd_id);
    gen::AllocateCommandBuffersArgs alloc_cb;
    alloc_cb.device = ref<VkDevice>(device_id);
    alloc_cb.pAllocateInfo = &cai;
    alloc_cb.pCommandBuffers = &cb;
    r.emit(alloc_cb);

    VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                         VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          nullptr, 0, 1, &binding};
    VkDescriptorSetLayout set_layout = id<VkDescriptorSetLayout>(set_layout_id);
    gen::CreateDescriptorSetLayoutArgs create_dsl;
    create_dsl.device = ref<VkDevice>(device_id);
    create_dsl.pCreateInfo = &dslci;
    create_dsl.pSetLayout = &set_layout;
    r.emit(create_dsl);

    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 16};
    VkPipelineLayoutCreateInfo plci{
        VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, nullptr, 0, 1, &set_layout, 1, &range};
    VkPipelineLayout layout = id<VkPipelineLayout>(layout_id);
    gen::CreatePipelineLayoutArgs create_layout;
    create_layout.device = ref<VkDevice>(device_id);
    create_layout.pCreateInfo = &plci;
    create_layout.pPipelineLayout = &layout;
    r.emit(create_layout);

    static const std::uint32_t spirv[] = {0x07230203, 0x00010000, 0, 1, 0};
    VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, nullptr, 0,
                                  sizeof(spirv), spirv};
    VkShaderModule shader = id<VkShaderModule>(shader_id);
    gen::CreateShaderModuleArgs create_shader;
    create_shader.device = ref<VkDevice>(device_id);
    create_shader.pCreateInfo = &smci;
    create_shader.pShaderModule = &shader;
    r.emit(create_shader);

    VkComputePipelineCreateInfo cpci{};
    cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  nullptr,
                  0,
                  VK_SHADER_STAGE_COMPUTE_BIT,
                  shader,
                  "main",
                  nullptr};
    cpci.layout = layout;
    VkPipeline pipeline = id<VkPipeline>(pipeline_id);
    gen::CreateComputePipelinesArgs create_pipeline;
    create_pipeline.device = ref<VkDevice>(device_id);
    create_pipeline.createInfoCount = 1;
    create_pipeline.pCreateInfos = &cpci;
    create_pipeline.pPipelines = &pipeline;
    r.emit(create_pipeline);

    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           nullptr,
                           0,
                           1 << 20,
                           VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_VERTEX_BUFFER_BIT,
                           VK_SHARING_MODE_EXCLUSIVE,
                           0,
                           nullptr};
    VkBuffer buffer = id<VkBuffer>(buffer_id);
    gen::CreateBufferArgs create_buffer;
    create_buffer.device = ref<VkDevice>(device_id);
    create_buffer.pCreateInfo = &bci;
    create_buffer.pBuffer = &buffer;
    r.emit(create_buffer);

    VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4};
    VkDescriptorPoolCreateInfo dpci{
        VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, nullptr, 0, 4, 1, &pool_size};
    VkDescriptorPool desc_pool = id<VkDescriptorPool>(desc_pool_id);
    gen::CreateDescriptorPoolArgs create_dpool;
    create_dpool.device = ref<VkDevice>(device_id);
    create_dpool.pCreateInfo = &dpci;
    create_dpool.pDescriptorPool = &desc_pool;
    r.emit(create_dpool);

    VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                     desc_pool, 1, &set_layout};
    VkDescriptorSet set = id<VkDescriptorSet>(set_id);
    gen::AllocateDescriptorSetsArgs alloc_set;
    alloc_set.device = ref<VkDevice>(device_id);
    alloc_set.pAllocateInfo = &dsai;
    alloc_set.pDescriptorSets = &set;
    r.emit(alloc_set);

    VkCommandBufferBeginInfo begin_info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, nullptr,
                                        VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, nullptr};
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    begin.pBeginInfo = &begin_info;
    r.emit(begin);

    // The recording batch: 8 commands, the mix a compute or draw loop produces.
    gen::CmdBindPipelineArgs bind_pipeline;
    bind_pipeline.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    bind_pipeline.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bind_pipeline.pipeline = ref<VkPipeline>(pipeline_id);

    const std::uint64_t set_ids[] = {set_id};
    gen::CmdBindDescriptorSetsArgs bind_sets;
    bind_sets.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    bind_sets.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bind_sets.layout = ref<VkPipelineLayout>(layout_id);
    bind_sets.descriptorSetCount = 1;
    bind_sets.pDescriptorSets = &set;
    bind_sets.pDescriptorSets_ids = set_ids;

    const float constants[4] = {1, 2, 3, 4};
    gen::CmdPushConstantsArgs push;
    push.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    push.layout = ref<VkPipelineLayout>(layout_id);
    push.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    push.size = sizeof(constants);
    push.pValues = constants;

    const VkDeviceSize offset = 0;
    const std::uint64_t buffer_ids[] = {buffer_id};
    gen::CmdBindVertexBuffersArgs bind_vb;
    bind_vb.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    bind_vb.bindingCount = 1;
    bind_vb.pBuffers = &buffer;
    bind_vb.pBuffers_ids = buffer_ids;
    bind_vb.pOffsets = &offset;

    gen::CmdDrawArgs draw;
    draw.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    draw.vertexCount = 3;
    draw.instanceCount = 1;

    gen::CmdDispatchArgs dispatch;
    dispatch.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    dispatch.groupCountX = 64;
    dispatch.groupCountY = 1;
    dispatch.groupCountZ = 1;

    VkBufferMemoryBarrier barrier{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                  nullptr,
                                  VK_ACCESS_SHADER_WRITE_BIT,
                                  VK_ACCESS_SHADER_READ_BIT,
                                  VK_QUEUE_FAMILY_IGNORED,
                                  VK_QUEUE_FAMILY_IGNORED,
                                  buffer,
                                  0,
                                  VK_WHOLE_SIZE};
    gen::CmdPipelineBarrierArgs pipeline_barrier;
    pipeline_barrier.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    pipeline_barrier.srcStageMask = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    pipeline_barrier.dstStageMask = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    pipeline_barrier.bufferMemoryBarrierCount = 1;
    pipeline_barrier.pBufferMemoryBarriers = &barrier;

    gen::CmdSetScissorArgs scissor;
    const VkRect2D rect{{0, 0}, {256, 256}};
    scissor.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    scissor.scissorCount = 1;
    scissor.pScissors = &rect;

    for (std::size_t i = 0; i < batches; ++i) {
        r.emit(bind_pipeline);
        r.emit(bind_sets);
        r.emit(push);
        r.emit(bind_vb);
        r.emit(scissor);
        r.emit(draw);
        r.emit(dispatch);
        r.emit(pipeline_barrier);
    }

    gen::EndCommandBufferArgs end;
    end.commandBuffer = ref<VkCommandBuffer>(cmd_id);
    r.emit(end);
    return std::move(r.out);
}

} // namespace vn::test
