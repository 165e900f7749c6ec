# Builds volback_ceph.node: the node-addon-api binding over librados and librbd that the rbd pool
# driver uses for what libvirt's rbd backend cannot do (read, write, diff, flatten, snapshots).
# Needs librados-dev and librbd-dev, g++ and python3.
{
  "targets": [
    {
      "target_name": "volback_ceph",
      "sources": ["src/addon.cc", "src/common.cc", "src/cluster.cc", "src/image.cc", "src/read-many.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lrados", "-lrbd"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
