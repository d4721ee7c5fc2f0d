#version 450
// Writes a pattern only the shader can produce, so the test sees the dispatch really ran.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Out { uint values[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    values[i] = i * 3u + 1u;
}
