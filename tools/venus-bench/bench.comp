#version 450
// The compute pipeline every server and the native run bind in the throughput workload: it only
// has to be a real pipeline with push constants and one storage buffer (it is recorded, never run).
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vec4 scale; };
layout(std430, set = 0, binding = 0) buffer Data { float values[]; };
void main() {
    values[gl_GlobalInvocationID.x] *= scale.x;
}
