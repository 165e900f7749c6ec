# Builds volback_libvirt.node: the node-addon-api binding over libvirt and libvirt-qemu.
# Needs libvirt-dev (pkg-config libvirt, libvirt-qemu), g++ and python3.
{
  "targets": [
    {
      "target_name": "volback_libvirt",
      "sources": [
        "src/addon.cc",
        "src/batch.cc",
        "src/common.cc",
        "src/connect.cc",
        "src/domain.cc",
        "src/events.cc",
        "src/secret.cc",
        "src/storage.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags libvirt libvirt-qemu)"],
      "libraries": ["<!@(pkg-config --libs libvirt libvirt-qemu)"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
