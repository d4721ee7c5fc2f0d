// libFuzzer entry point: one Venus command stream into a fresh decoder context, exactly as a
// worker feeds SUBMIT_CMD payloads (all decoding, id tracking and reply encoding, no Vulkan).
#include "vn/decoder/context.h"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // A 64 MiB arena instead of the worker's 1 GiB: the limit is still exercised, and zeroing a
    // gigabyte per input would slow the fuzzer a hundredfold.
    vn::decoder::Context context({vn::decoder::Mode::Validate, std::size_t{64} << 20, nullptr});
    // The first byte picks where the rest is split into two submits, so that objects created by
    // the first stream are looked up by the second, as they are across real submits.
    if (size == 0)
        return 0;
    const std::size_t rest = size - 1;
    const std::size_t cut = (static_cast<std::size_t>(data[0]) * rest / 256) & ~std::size_t{3};
    const auto* bytes = reinterpret_cast<const std::byte*>(data + 1);
    size = rest;
    if (context.submit(std::span(bytes, cut)))
        (void)context.submit(std::span(bytes + cut, size - cut));
    return 0;
}
