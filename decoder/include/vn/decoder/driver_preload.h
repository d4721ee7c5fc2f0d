#pragma once
// Loads the host Vulkan driver into a process that will fork workers, before any guest exists.
#include <cstdint>
#include <string>

namespace vn::decoder {

// Creates and destroys one Vulkan instance with no layers or extensions, keeping the libraries
// it loaded (the ICD and what it pulls in, e.g. libLLVM for lavapipe) resident for good.
//
// Why: a worker forked afterwards finds the driver already loaded and relocated, so its
// vkCreateInstance maps nothing new and the driver's pages stay shared (copy-on-write) with this
// process and every sibling instead of being loaded and relocated again in each worker, which
// cost tens of MiB of private memory and milliseconds per context.
//
// Security: call it only in a process that never sees guest data (the server, before it
// accepts clients). No physical device is enumerated and no device is created: the driver's
// library constructors and its instance entry points run once, on no input but the host's
// environment and ICD manifests, exactly as in the worker.
//
// Fork safety: only for drivers that work in a child forked after they were initialized.
// Mesa's (lavapipe) do; NVIDIA's driver 580 does not (the worker's vkCreateInstance fails), so
// the server calls this only when every ICD manifest names a Mesa driver, or when told to
// (--driver-preload; server/src/driver_manifests.h).
bool preload_host_drivers(std::string& error);

// Asks the loader for its instance version once and keeps the answer, which every context's
// first command (vkEnumerateInstanceVersion) then gets without calling into the loader again, as
// virglrenderer answers it from a value read at start-up. Why: a process's first loader call
// initializes the loader and scans the layer manifests (1.6 ms here, against 0.15 ms later), and a
// spare worker calls this while it waits for a context, so that this cost is not on the context's
// start. Safe to call from any thread, any number of times.
std::uint32_t host_instance_version();

// What vkEnumerateInstanceVersion answers a guest: host_instance_version() capped at the newest
// core version the decoder implements, both kept once computed. A spare worker calls this while it
// waits, and the zygote before its first fork: the first call writes the kept values, and a write
// after the fork is a page each context would copy on its start.
std::uint32_t guest_instance_version();

} // namespace vn::decoder
