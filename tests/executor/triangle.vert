#version 450
// Positions come from a vertex buffer, so the draw exercises the checked vertex buffer binding.
layout(location = 0) in vec2 position;

void main() {
    gl_Position = vec4(position, 0.0, 1.0);
}
