#include "vn/scenarios/triangle_draw.h"

namespace vn::scenarios {

namespace {
std::uint64_t create_shader(client::Guest& guest, const Device& device,
                            std::span<const std::uint32_t> spirv) {
    VkShaderModuleCreateInfo smci{};
    smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    smci.codeSize = spirv.size_bytes();
    smci.pCode = spirv.data();
    const std::uint64_t id = guest.new_id();
    VkShaderModule h = handle<VkShaderModule>(id);
    gen::CreateShaderModuleArgs csm;
    csm.device = device.ref();
    csm.pCreateInfo = &smci;
    csm.pShaderModule = &h;
    expect_success(call(guest, csm).ret, "vkCreateShaderModule");
    return id;
}

// Device memory of the first type the object accepts.
std::uint64_t allocate_for(client::Guest& guest, const Device& device,
                           const VkMemoryRequirements& mr) {
    const std::uint64_t id = guest.new_id();
    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = mr.size;
    ai.memoryTypeIndex = find_memory_type(device, mr.memoryTypeBits, 0);
    VkDeviceMemory h = handle<VkDeviceMemory>(id);
    gen::AllocateMemoryArgs am;
    am.device = device.ref();
    am.pAllocateInfo = &ai;
    am.pMemory = &h;
    expect_success(call(guest, am).ret, "vkAllocateMemory");
    return id;
}

template <typename Args>
void destroy(client::Guest& guest, const Device& device, Args args) {
    args.device = device.ref();
    send(guest, args);
}
} // namespace

TriangleRun draw_triangle(client::Guest& guest, const Device& device,
                          std::span<const std::uint32_t> vertex_spirv,
                          std::span<const std::uint32_t> fragment_spirv,
                          const std::array<float, 6>& vertices, std::uint32_t width,
                          std::uint32_t height) {
    const auto dev = device.ref();
    constexpr VkFormat format = VK_FORMAT_R8G8B8A8_UNORM;
    TriangleRun run;
    run.width = width;
    run.height = height;

    // The color image and its memory.
    VkImageCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO;
    ici.imageType = VK_IMAGE_TYPE_2D;
    ici.format = format;
    ici.extent = {width, height, 1};
    ici.mipLevels = 1;
    ici.arrayLayers = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = VK_IMAGE_TILING_OPTIMAL;
    ici.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    ici.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    const std::uint64_t image = guest.new_id();
    VkImage image_h = handle<VkImage>(image);
    gen::CreateImageArgs ci;
    ci.device = dev;
    ci.pCreateInfo = &ici;
    ci.pImage = &image_h;
    expect_success(call(guest, ci).ret, "vkCreateImage");
    VkImageMemoryRequirementsInfo2 iri{};
    iri.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2;
    iri.image = image_h;
    VkMemoryRequirements2 ireq{};
    ireq.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetImageMemoryRequirements2Args gir;
    gir.device = dev;
    gir.pInfo = &iri;
    gir.pMemoryRequirements = &ireq;
    const VkMemoryRequirements image_mr = call(guest, gir).pMemoryRequirements->memoryRequirements;
    const std::uint64_t image_memory = allocate_for(guest, device, image_mr);
    VkBindImageMemoryInfo ibind{};
    ibind.sType = VK_STRUCTURE_TYPE_BIND_IMAGE_MEMORY_INFO;
    ibind.image = image_h;
    ibind.memory = handle<VkDeviceMemory>(image_memory);
    gen::BindImageMemory2Args bim;
    bim.device = dev;
    bim.bindInfoCount = 1;
    bim.pBindInfos = &ibind;
    expect_success(call(guest, bim).ret, "vkBindImageMemory2");

    VkImageViewCreateInfo ivci{};
    ivci.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO;
    ivci.image = image_h;
    ivci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    ivci.format = format;
    ivci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    const std::uint64_t view = guest.new_id();
    VkImageView view_h = handle<VkImageView>(view);
    gen::CreateImageViewArgs civ;
    civ.device = dev;
    civ.pCreateInfo = &ivci;
    civ.pView = &view_h;
    expect_success(call(guest, civ).ret, "vkCreateImageView");

    // Render pass: clear, draw, leave the image ready to be copied out.
    VkAttachmentDescription attachment{};
    attachment.format = format;
    attachment.samples = VK_SAMPLE_COUNT_1_BIT;
    attachment.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
    attachment.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
    attachment.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
    attachment.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
    attachment.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    attachment.finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    VkAttachmentReference color_ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
    VkSubpassDescription subpass{};
    subpass.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
    subpass.colorAttachmentCount = 1;
    subpass.pColorAttachments = &color_ref;
    VkSubpassDependency dep{};
    dep.srcSubpass = 0;
    dep.dstSubpass = VK_SUBPASS_EXTERNAL;
    dep.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    dep.dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    dep.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
    dep.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    VkRenderPassCreateInfo rpci{};
    rpci.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO;
    rpci.attachmentCount = 1;
    rpci.pAttachments = &attachment;
    rpci.subpassCount = 1;
    rpci.pSubpasses = &subpass;
    rpci.dependencyCount = 1;
    rpci.pDependencies = &dep;
    const std::uint64_t render_pass = guest.new_id();
    VkRenderPass rp_h = handle<VkRenderPass>(render_pass);
    gen::CreateRenderPassArgs crp;
    crp.device = dev;
    crp.pCreateInfo = &rpci;
    crp.pRenderPass = &rp_h;
    expect_success(call(guest, crp).ret, "vkCreateRenderPass");

    VkFramebufferCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO;
    fci.renderPass = rp_h;
    fci.attachmentCount = 1;
    fci.pAttachments = &view_h;
    fci.width = width;
    fci.height = height;
    fci.layers = 1;
    const std::uint64_t framebuffer = guest.new_id();
    VkFramebuffer fb_h = handle<VkFramebuffer>(framebuffer);
    gen::CreateFramebufferArgs cfb;
    cfb.device = dev;
    cfb.pCreateInfo = &fci;
    cfb.pFramebuffer = &fb_h;
    expect_success(call(guest, cfb).ret, "vkCreateFramebuffer");

    // The pipeline.
    const std::uint64_t vs = create_shader(guest, device, vertex_spirv);
    const std::uint64_t fs = create_shader(guest, device, fragment_spirv);
    VkPipelineLayoutCreateInfo plci{};
    plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    const std::uint64_t layout = guest.new_id();
    VkPipelineLayout layout_h = handle<VkPipelineLayout>(layout);
    gen::CreatePipelineLayoutArgs cpl;
    cpl.device = dev;
    cpl.pCreateInfo = &plci;
    cpl.pPipelineLayout = &layout_h;
    expect_success(call(guest, cpl).ret, "vkCreatePipelineLayout");
    VkPipelineShaderStageCreateInfo stages[2]{};
    stages[0].sType = stages[1].sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    stages[0].stage = VK_SHADER_STAGE_VERTEX_BIT;
    stages[0].module = handle<VkShaderModule>(vs);
    stages[0].pName = "main";
    stages[1].stage = VK_SHADER_STAGE_FRAGMENT_BIT;
    stages[1].module = handle<VkShaderModule>(fs);
    stages[1].pName = "main";
    VkVertexInputBindingDescription vbinding{0, 2 * sizeof(float), VK_VERTEX_INPUT_RATE_VERTEX};
    VkVertexInputAttributeDescription vattr{0, 0, VK_FORMAT_R32G32_SFLOAT, 0};
    VkPipelineVertexInputStateCreateInfo vi{};
    vi.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO;
    vi.vertexBindingDescriptionCount = 1;
    vi.pVertexBindingDescriptions = &vbinding;
    vi.vertexAttributeDescriptionCount = 1;
    vi.pVertexAttributeDescriptions = &vattr;
    VkPipelineInputAssemblyStateCreateInfo ia{};
    ia.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO;
    ia.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
    VkViewport viewport{0, 0, static_cast<float>(width), static_cast<float>(height), 0, 1};
    VkRect2D scissor{{0, 0}, {width, height}};
    VkPipelineViewportStateCreateInfo vp{};
    vp.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO;
    vp.viewportCount = 1;
    vp.pViewports = &viewport;
    vp.scissorCount = 1;
    vp.pScissors = &scissor;
    VkPipelineRasterizationStateCreateInfo rs{};
    rs.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO;
    rs.polygonMode = VK_POLYGON_MODE_FILL;
    rs.cullMode = VK_CULL_MODE_NONE;
    rs.frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE;
    rs.lineWidth = 1.0f;
    VkPipelineMultisampleStateCreateInfo ms{};
    ms.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO;
    ms.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
    VkPipelineColorBlendAttachmentState blend{};
    blend.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                           VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
    VkPipelineColorBlendStateCreateInfo cb{};
    cb.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO;
    cb.attachmentCount = 1;
    cb.pAttachments = &blend;
    VkGraphicsPipelineCreateInfo gpci{};
    gpci.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO;
    gpci.stageCount = 2;
    gpci.pStages = stages;
    gpci.pVertexInputState = &vi;
    gpci.pInputAssemblyState = &ia;
    gpci.pViewportState = &vp;
    gpci.pRasterizationState = &rs;
    gpci.pMultisampleState = &ms;
    gpci.pColorBlendState = &cb;
    gpci.layout = layout_h;
    gpci.renderPass = rp_h;
    gpci.subpass = 0;
    const std::uint64_t pipeline = guest.new_id();
    VkPipeline pipeline_h = handle<VkPipeline>(pipeline);
    gen::CreateGraphicsPipelinesArgs cgp;
    cgp.device = dev;
    cgp.createInfoCount = 1;
    cgp.pCreateInfos = &gpci;
    cgp.pPipelines = &pipeline_h;
    expect_success(call(guest, cgp).ret, "vkCreateGraphicsPipelines");

    // Vertex buffer (device memory, filled by the GPU from the command stream) and the
    // host-visible readback buffer.
    VkBufferCreateInfo vbci{};
    vbci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    vbci.size = sizeof(vertices);
    vbci.usage = VK_BUFFER_USAGE_VERTEX_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    const std::uint64_t vbuf = guest.new_id();
    VkBuffer vbuf_h = handle<VkBuffer>(vbuf);
    gen::CreateBufferArgs cvb;
    cvb.device = dev;
    cvb.pCreateInfo = &vbci;
    cvb.pBuffer = &vbuf_h;
    expect_success(call(guest, cvb).ret, "vkCreateBuffer");
    VkBufferMemoryRequirementsInfo2 bri{};
    bri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
    bri.buffer = vbuf_h;
    VkMemoryRequirements2 breq{};
    breq.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetBufferMemoryRequirements2Args gbr;
    gbr.device = dev;
    gbr.pInfo = &bri;
    gbr.pMemoryRequirements = &breq;
    const std::uint64_t vmem =
        allocate_for(guest, device, call(guest, gbr).pMemoryRequirements->memoryRequirements);
    VkBindBufferMemoryInfo vbind{};
    vbind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    vbind.buffer = vbuf_h;
    vbind.memory = handle<VkDeviceMemory>(vmem);
    gen::BindBufferMemory2Args bvm;
    bvm.device = dev;
    bvm.bindInfoCount = 1;
    bvm.pBindInfos = &vbind;
    expect_success(call(guest, bvm).ret, "vkBindBufferMemory2");
    HostBuffer readback = create_host_buffer(guest, device, VkDeviceSize{width} * height * 4,
                                             VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    run.readable = readback.mapping.mapped();

    // Record: upload vertices, draw, copy out.
    const std::uint64_t cmd = begin_command_buffer(guest, device);
    const auto cmd_ref = ref<VkCommandBuffer>(cmd);
    gen::CmdUpdateBufferArgs ub;
    ub.commandBuffer = cmd_ref;
    ub.dstBuffer = ref<VkBuffer>(vbuf);
    ub.dataSize = sizeof(vertices);
    ub.pData = vertices.data();
    send(guest, ub);
    VkMemoryBarrier upload{};
    upload.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    upload.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    upload.dstAccessMask = VK_ACCESS_VERTEX_ATTRIBUTE_READ_BIT;
    gen::CmdPipelineBarrierArgs pb;
    pb.commandBuffer = cmd_ref;
    pb.srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    pb.dstStageMask = VK_PIPELINE_STAGE_VERTEX_INPUT_BIT;
    pb.memoryBarrierCount = 1;
    pb.pMemoryBarriers = &upload;
    send(guest, pb);
    VkClearValue clear{};
    clear.color.float32[0] = 1.0f;
    clear.color.float32[3] = 1.0f;
    VkRenderPassBeginInfo rpbi{};
    rpbi.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO;
    rpbi.renderPass = rp_h;
    rpbi.framebuffer = fb_h;
    rpbi.renderArea = scissor;
    rpbi.clearValueCount = 1;
    rpbi.pClearValues = &clear;
    gen::CmdBeginRenderPassArgs brp;
    brp.commandBuffer = cmd_ref;
    brp.pRenderPassBegin = &rpbi;
    brp.contents = VK_SUBPASS_CONTENTS_INLINE;
    send(guest, brp);
    gen::CmdBindPipelineArgs bp;
    bp.commandBuffer = cmd_ref;
    bp.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
    bp.pipeline = ref<VkPipeline>(pipeline);
    send(guest, bp);
    const VkDeviceSize offset = 0;
    gen::CmdBindVertexBuffersArgs bvb;
    bvb.commandBuffer = cmd_ref;
    bvb.bindingCount = 1;
    bvb.pBuffers = &vbuf_h;
    bvb.pOffsets = &offset;
    send(guest, bvb);
    gen::CmdDrawArgs draw;
    draw.commandBuffer = cmd_ref;
    draw.vertexCount = 3;
    draw.instanceCount = 1;
    send(guest, draw);
    gen::CmdEndRenderPassArgs erp;
    erp.commandBuffer = cmd_ref;
    send(guest, erp);
    VkBufferImageCopy region{};
    region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region.imageExtent = {width, height, 1};
    gen::CmdCopyImageToBufferArgs copy;
    copy.commandBuffer = cmd_ref;
    copy.srcImage = ref<VkImage>(image);
    copy.srcImageLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    copy.dstBuffer = ref<VkBuffer>(readback.buffer);
    copy.regionCount = 1;
    copy.pRegions = &region;
    send(guest, copy);
    VkMemoryBarrier host_read{};
    host_read.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    host_read.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    host_read.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    pb.srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    pb.dstStageMask = VK_PIPELINE_STAGE_HOST_BIT;
    pb.pMemoryBarriers = &host_read;
    send(guest, pb);
    end_command_buffer(guest, cmd);

    const std::uint64_t fence = create_fence(guest, device);
    const std::uint64_t cmds[] = {cmd};
    submit(guest, device, cmds, fence);
    wait_fence(guest, device, fence);
    if (run.readable) {
        const auto words = readback.mapping.as<std::uint32_t>();
        const std::size_t n = std::size_t{width} * height;
        if (words.size() < n)
            throw Failure("the readback blob is smaller than the image");
        run.pixels.assign(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(n));
    }

    free_command_buffer(guest, device, cmd);
    gen::DestroyFenceArgs df;
    df.fence = ref<VkFence>(fence);
    destroy(guest, device, df);
    destroy_host_buffer(guest, device, readback);
    gen::DestroyBufferArgs db;
    db.buffer = ref<VkBuffer>(vbuf);
    destroy(guest, device, db);
    gen::DestroyPipelineArgs dp;
    dp.pipeline = ref<VkPipeline>(pipeline);
    destroy(guest, device, dp);
    gen::DestroyPipelineLayoutArgs dpl;
    dpl.pipelineLayout = ref<VkPipelineLayout>(layout);
    destroy(guest, device, dpl);
    for (const std::uint64_t shader : {vs, fs}) {
        gen::DestroyShaderModuleArgs dsm;
        dsm.shaderModule = ref<VkShaderModule>(shader);
        destroy(guest, device, dsm);
    }
    gen::DestroyFramebufferArgs dfb;
    dfb.framebuffer = ref<VkFramebuffer>(framebuffer);
    destroy(guest, device, dfb);
    gen::DestroyRenderPassArgs drp;
    drp.renderPass = ref<VkRenderPass>(render_pass);
    destroy(guest, device, drp);
    gen::DestroyImageViewArgs div;
    div.imageView = ref<VkImageView>(view);
    destroy(guest, device, div);
    gen::DestroyImageArgs di;
    di.image = ref<VkImage>(image);
    destroy(guest, device, di);
    for (const std::uint64_t memory : {vmem, image_memory}) {
        gen::FreeMemoryArgs fm;
        fm.memory = ref<VkDeviceMemory>(memory);
        destroy(guest, device, fm);
    }
    if (guest.sync() != client::Status::Ok)
        throw Failure("after the draw: " + guest.last_error());
    return run;
}

} // namespace vn::scenarios
