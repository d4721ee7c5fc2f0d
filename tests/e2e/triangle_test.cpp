// The triangle scenario on both renderers: a render pass, a graphics pipeline and a draw, the
// image copied into host-visible memory the guest maps. Built where the executor's triangle
// shaders exist (tests/executor/triangle.{vert,frag}).
#include "backends.h"
#include "triangle_frag.spv.h"
#include "triangle_vert.spv.h"
#include "vn/scenarios/triangle_draw.h"

#include <cmath>

using namespace vn;

namespace {

constexpr std::uint32_t size = 32;
constexpr std::array<float, 6> vertices = {-0.75f, -0.75f, 0.75f, -0.75f, 0.0f, 0.75f};
constexpr std::uint32_t green = 0xff00ff00u; // what triangle.frag writes, as RGBA bytes

// Signed distance (in pixels) of pixel (x, y)'s center from the triangle's nearest edge:
// positive inside.
float inside_by(std::uint32_t x, std::uint32_t y) {
    const float px = (static_cast<float>(x) + 0.5f) / size * 2 - 1;
    const float py = (static_cast<float>(y) + 0.5f) / size * 2 - 1;
    float d = 1e9f;
    for (int i = 0; i < 3; ++i) {
        const float ax = vertices[2 * i], ay = vertices[2 * i + 1];
        const float bx = vertices[(2 * i + 2) % 6], by = vertices[(2 * i + 3) % 6];
        const float cx = vertices[(2 * i + 4) % 6], cy = vertices[(2 * i + 5) % 6];
        const float len = std::hypot(bx - ax, by - ay);
        float e = ((bx - ax) * (py - ay) - (by - ay) * (px - ax)) / len;
        // Orient each edge so that the opposite vertex is on its positive side.
        if ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax) < 0)
            e = -e;
        d = std::min(d, e);
    }
    return d * size / 2; // NDC to pixels
}

void draws_a_triangle(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    const auto device = scenarios::create_device(guest);
    const auto run = scenarios::draw_triangle(
        guest, device, {vn_triangle_vert_spv, sizeof(vn_triangle_vert_spv) / 4},
        {vn_triangle_frag_spv, sizeof(vn_triangle_frag_spv) / 4}, vertices, size, size);
    if (backend.layout == VN_PROXY_LAYOUT_V1)
        REQUIRE(run.readable);
    if (!run.readable) {
        WARN(backend.name << ": device memory is an OPAQUE fd; the image is not guest-readable");
        return;
    }
    REQUIRE(run.pixels.size() == size * size);
    std::uint32_t inside = 0, outside = 0, wrong = 0;
    for (std::uint32_t y = 0; y < size; ++y)
        for (std::uint32_t x = 0; x < size; ++x) {
            const float d = inside_by(x, y);
            const std::uint32_t p = run.pixels[y * size + x];
            if (d > 1.0f) {
                ++inside;
                wrong += p != green;
            } else if (d < -1.0f) {
                ++outside;
                wrong += p != scenarios::triangle_clear_color;
            }
        }
    CHECK(inside > 100);
    CHECK(outside > 100);
    CHECK(wrong == 0);
    scenarios::destroy_device(guest, device);
}

} // namespace

E2E_BOTH("scenario: a triangle drawn and read back through a mapped blob", "[scenario]",
         draws_a_triangle)
