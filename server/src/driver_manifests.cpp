#include "driver_manifests.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace vn::server {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_paths(const char* value) {
    std::vector<std::string> out;
    if (!value)
        return out;
    std::stringstream in(value);
    std::string item;
    while (std::getline(in, item, ':'))
        if (!item.empty())
            out.push_back(item);
    return out;
}

// A manifest that does not parse, or has no ICD.library_path string, yields "": a driver we do
// not know, so nothing is preloaded.
std::string library_path_of(const fs::path& manifest) {
    std::ifstream in(manifest);
    const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object())
        return "";
    const auto icd = json.find("ICD");
    if (icd == json.end() || !icd->is_object())
        return "";
    const auto library = icd->find("library_path");
    if (library == icd->end() || !library->is_string())
        return "";
    return library->get<std::string>();
}

void add_entry(const fs::path& entry, std::vector<DriverManifest>& out) {
    std::error_code ec;
    if (fs::is_directory(entry, ec)) {
        std::vector<fs::path> files;
        for (const auto& f : fs::directory_iterator(entry, ec))
            if (f.path().extension() == ".json")
                files.push_back(f.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files)
            out.push_back({f.string(), library_path_of(f)});
    } else if (fs::exists(entry, ec)) {
        out.push_back({entry.string(), library_path_of(entry)});
    }
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value && *value ? value : fallback;
}

} // namespace

std::vector<DriverManifest> find_driver_manifests() {
    std::vector<DriverManifest> out;
    const char* files = std::getenv("VK_DRIVER_FILES");
    if (!files || !*files)
        files = std::getenv("VK_ICD_FILENAMES");
    if (files && *files) {
        for (const auto& entry : split_paths(files))
            add_entry(entry, out);
    } else {
        const std::string home = env_or("HOME", "");
        std::vector<std::string> dirs;
        dirs.push_back(env_or("XDG_CONFIG_HOME", home.empty() ? "" : home + "/.config"));
        for (const auto& d : split_paths(env_or("XDG_CONFIG_DIRS", "/etc/xdg").c_str()))
            dirs.push_back(d);
        dirs.push_back("/etc");
        dirs.push_back(env_or("XDG_DATA_HOME", home.empty() ? "" : home + "/.local/share"));
        for (const auto& d :
             split_paths(env_or("XDG_DATA_DIRS", "/usr/local/share:/usr/share").c_str()))
            dirs.push_back(d);
        for (const auto& d : dirs)
            if (!d.empty())
                add_entry(fs::path(d) / "vulkan" / "icd.d", out);
    }
    for (const auto& entry : split_paths(std::getenv("VK_ADD_DRIVER_FILES")))
        add_entry(entry, out);
    return out;
}

PreloadChoice choose_driver_preload(const std::vector<DriverManifest>& manifests) {
    // Mesa's Vulkan drivers, by the library name Mesa installs them under.
    static constexpr std::array<std::string_view, 11> kMesa = {
        "libvulkan_lvp.so",          "libvulkan_radeon.so",    "libvulkan_intel.so",
        "libvulkan_intel_hasvk.so",  "libvulkan_freedreno.so", "libvulkan_panfrost.so",
        "libvulkan_broadcom.so",     "libvulkan_nouveau.so",   "libvulkan_asahi.so",
        "libvulkan_powervr_mesa.so", "libvulkan_virtio.so"};
    PreloadChoice choice;
    if (manifests.empty()) {
        choice.reason = "no Vulkan driver manifest found";
        return choice;
    }
    std::string names;
    for (const auto& m : manifests) {
        const std::string base = fs::path(m.library).filename().string();
        if (std::find(kMesa.begin(), kMesa.end(), base) == kMesa.end()) {
            choice.reason = m.path + " names " + (m.library.empty() ? "no library" : m.library) +
                            ", a driver not known to survive fork() after initialization";
            return choice;
        }
        names += (names.empty() ? "" : ", ") + base;
    }
    choice.preload = true;
    choice.reason = "every host driver is Mesa's (" + names + ")";
    return choice;
}

} // namespace vn::server
