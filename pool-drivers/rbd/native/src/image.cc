// Image calls on one pool: size, create, write, read, layer extents, parent, children, snapshots,
// clone, flatten, remove. Each opens the image for the one call (read-only where it only reads).
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common.h"

namespace vbc {

namespace {

/** What every image call captures: the cluster, the pool and the image name. */
struct Target {
  Cluster cluster;
  std::string pool;
  std::string image;
  std::string spec() const { return Spec(pool, image); }
};

Target ArgTarget(const Napi::CallbackInfo& info) {
  Handle* h = ArgHandle(info, 0, true);
  return {h->cluster, h->pool, ArgStr(info, 1, "image name")};
}

Napi::Value Number(Napi::Env env, uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }

struct Extent {
  uint64_t offset;
  uint64_t length;
  bool exists;
};

int CollectExtent(uint64_t off, size_t len, int exists, void* arg) {
  static_cast<std::vector<Extent>*>(arg)->push_back({off, len, exists != 0});
  return 0;
}

}  // namespace

VBC_FN(ImageSize) {
  Target t = ArgTarget(info);
  auto size = std::make_shared<uint64_t>(0);
  return Run(
      info.Env(), t.cluster,
      [t, size](CephErr& err) {
        Image img;
        if (!OpenImage(*t.cluster, t.pool, t.image, false, nullptr, img, err)) return;
        int r = rbd_get_size(img.img, size.get());
        if (r < 0) err.Set(r, "rbd_get_size(" + t.spec() + ")");
      },
      [size](Napi::Env env) { return Number(env, *size); });
}

VBC_FN(ImageCreate) {
  Target t = ArgTarget(info);
  uint64_t size = ArgU64(info, 2, "size");
  // Object size as a power of two (0: librbd's default, 22 = 4 MiB).
  uint64_t order = ArgU64(info, 3, "order");
  return Run(info.Env(), t.cluster, [t, size, order](CephErr& err) {
    rados_ioctx_t io = nullptr;
    int r = t.cluster->IoCtx(t.pool, &io);
    if (r < 0) return (void)err.Set(r, "rados_ioctx_create(" + t.pool + ")");
    rbd_image_options_t opts;
    rbd_image_options_create(&opts);
    rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
    // deep-flatten: flattening a clone also frees its snapshots from the parent, or a merged child
    // that has clones of its own would pin its old parent forever. Clones inherit these features.
    rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FEATURES,
                                 RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK | RBD_FEATURE_OBJECT_MAP |
                                     RBD_FEATURE_FAST_DIFF | RBD_FEATURE_DEEP_FLATTEN);
    if (order) rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_ORDER, order);
    r = rbd_create4(io, t.image.c_str(), size, opts);
    rbd_image_options_destroy(opts);
    if (r < 0) err.Set(r, "rbd_create4(" + t.spec() + ")");
  });
}

VBC_FN(ImageWrite) {
  Target t = ArgTarget(info);
  uint64_t offset = ArgU64(info, 2, "offset");
  if (!info[3].IsBuffer()) throw Napi::TypeError::New(info.Env(), "data must be a Buffer");
  auto b = info[3].As<Napi::Buffer<char>>();
  auto data = std::make_shared<std::vector<char>>(b.Data(), b.Data() + b.Length());  // JS may reuse it
  return Run(info.Env(), t.cluster, [t, offset, data](CephErr& err) {
    Image img;
    if (!OpenImage(*t.cluster, t.pool, t.image, true, nullptr, img, err)) return;
    uint64_t size = 0;
    int r = rbd_get_size(img.img, &size);
    if (r < 0) return (void)err.Set(r, "rbd_get_size(" + t.spec() + ")");
    if (offset > size || data->size() > size - offset)
      return (void)err.Own(EINVAL, "write of " + std::to_string(data->size()) + " bytes at " + std::to_string(offset) +
                                       " goes past the end of " + t.spec() + " (" + std::to_string(size) + " bytes)");
    const size_t chunk = 32u << 20;
    for (size_t done = 0; done < data->size();) {
      size_t n = std::min(chunk, data->size() - done);
      ssize_t w = rbd_write(img.img, offset + done, n, data->data() + done);
      if (w < 0) return (void)err.Set(static_cast<int>(w), "rbd_write(" + t.spec() + ")");
      if (w == 0) return (void)err.Own(EIO, "rbd_write(" + t.spec() + ") wrote nothing");
      done += static_cast<size_t>(w);
    }
    r = rbd_flush(img.img);
    if (r < 0) err.Set(r, "rbd_flush(" + t.spec() + ")");
  });
}

VBC_FN(ImageRead) {
  Target t = ArgTarget(info);
  uint64_t offset = ArgU64(info, 2, "offset");
  uint64_t length = ArgU64(info, 3, "length");
  struct Res {
    char* data = nullptr;
    ~Res() { free(data); }
  };
  auto res = std::make_shared<Res>();
  return Run(
      info.Env(), t.cluster,
      [t, offset, length, res](CephErr& err) {
        Image img;
        if (!OpenImage(*t.cluster, t.pool, t.image, false, nullptr, img, err)) return;
        uint64_t size = 0;
        int r = rbd_get_size(img.img, &size);
        if (r < 0) return (void)err.Set(r, "rbd_get_size(" + t.spec() + ")");
        if (offset > size || length > size - offset)
          return (void)err.Own(EINVAL, "read of " + std::to_string(length) + " bytes at " + std::to_string(offset) +
                                           " goes past the end of " + t.spec() + " (" + std::to_string(size) +
                                           " bytes)");
        res->data = static_cast<char*>(malloc(length ? length : 1));
        if (!res->data) return (void)err.Own(ENOMEM, "cannot allocate " + std::to_string(length) + " bytes");
        const size_t chunk = 32u << 20;
        for (uint64_t done = 0; done < length;) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, length - done));
          ssize_t got = rbd_read(img.img, offset + done, n, res->data + done);
          if (got < 0) return (void)err.Set(static_cast<int>(got), "rbd_read(" + t.spec() + ")");
          if (got == 0) return (void)err.Own(EIO, "rbd_read(" + t.spec() + ") returned no data");
          done += static_cast<uint64_t>(got);
        }
      },
      [res, length](Napi::Env env) -> Napi::Value {
        char* data = res->data;
        res->data = nullptr;
        return Napi::Buffer<char>::New(env, data, length, [](Napi::Env, char* p) { free(p); });
      });
}

// Resolves a flat array [offset, length, exists(0|1), ...]: sorted, adjacent same-kind ranges merged.
VBC_FN(ImageLayerExtents) {
  Target t = ArgTarget(info);
  auto out = std::make_shared<std::vector<Extent>>();
  return Run(
      info.Env(), t.cluster,
      [t, out](CephErr& err) {
        Image img;
        if (!OpenImage(*t.cluster, t.pool, t.image, false, nullptr, img, err)) return;
        uint64_t size = 0;
        int r = rbd_get_size(img.img, &size);
        if (r < 0) return (void)err.Set(r, "rbd_get_size(" + t.spec() + ")");
        std::vector<Extent> raw;
        // from the image's creation (no snapshot), this layer only, exact ranges
        r = rbd_diff_iterate2(img.img, nullptr, 0, size, 0, 0, CollectExtent, &raw);
        if (r < 0) return (void)err.Set(r, "rbd_diff_iterate2(" + t.spec() + ")");
        std::sort(raw.begin(), raw.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
        for (const Extent& e : raw) {
          if (e.length == 0) continue;
          if (!out->empty() && out->back().exists == e.exists && out->back().offset + out->back().length == e.offset)
            out->back().length += e.length;
          else
            out->push_back(e);
        }
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, out->size() * 3);
        for (size_t i = 0; i < out->size(); i++) {
          a.Set(3 * i, Number(env, (*out)[i].offset));
          a.Set(3 * i + 1, Number(env, (*out)[i].length));
          a.Set(3 * i + 2, Napi::Boolean::New(env, (*out)[i].exists));
        }
        return a;
      });
}

VBC_FN(ImageParent) {
  Target t = ArgTarget(info);
  struct Res {
    bool has = false;
    std::string pool, image, snapshot;
  };
  auto res = std::make_shared<Res>();
  return Run(
      info.Env(), t.cluster,
      [t, res](CephErr& err) {
        Image img;
        if (!OpenImage(*t.cluster, t.pool, t.image, false, nullptr, img, err)) return;
        rbd_linked_image_spec_t parent{};
        rbd_snap_spec_t snap{};
        int r = rbd_get_parent(img.img, &parent, &snap);
        if (r == -ENOENT) return;  // no parent
        if (r < 0) return (void)err.Set(r, "rbd_get_parent(" + t.spec() + ")");
        res->has = true;
        res->pool = parent.pool_name ? parent.pool_name : "";
        res->image = parent.image_name ? parent.image_name : "";
        res->snapshot = snap.name ? snap.name : "";
        rbd_linked_image_spec_cleanup(&parent);
        rbd_snap_spec_cleanup(&snap);
      },
      [res](Napi::Env env) -> Napi::Value {
        if (!res->has) return env.Null();
        Napi::Object o = Napi::Object::New(env);
        o.Set("pool", res->pool);
        o.Set("image", res->image);
        o.Set("snapshot", res->snapshot);
        return o;
      });
}

VBC_FN(ImageChildren) {
  Target t = ArgTarget(info);
  std::string snap = ArgStr(info, 2, "snapshot name");
  auto out = std::make_shared<std::vector<std::string>>();
  return Run(
      info.Env(), t.cluster,
      [t, snap, out](CephErr& err) {
        Image img;
        if (!OpenImage(*t.cluster, t.pool, t.image, false, snap.c_str(), img, err)) return;
        std::vector<rbd_linked_image_spec_t> specs(16);
        for (;;) {
          size_t n = specs.size();
          int r = rbd_list_children3(img.img, specs.data(), &n);
          if (r == -ERANGE) {
            specs.resize(n);
            continue;
          }
          if (r < 0) return (void)err.Set(r, "rbd_list_children3(" + t.spec() + "@" + snap + ")");
          for (size_t i = 0; i < n; i++) {
            const auto& s = specs[i];
            std::string ns = s.pool_namespace && *s.pool_namespace ? std::string(s.pool_namespace) + "/" : "";
            out->push_back(std::string(s.pool_name ? s.pool_name : "") + "/" + ns + (s.image_name ? s.image_name : ""));
          }
          rbd_linked_image_spec_list_cleanup(specs.data(), n);
          return;
        }
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, out->size());
        for (size_t i = 0; i < out->size(); i++) a.Set(i, (*out)[i]);
        return a;
      });
}

VBC_FN(ImageSnapshots) {
  Target t = ArgTarget(info);
  struct Snap {
    std::string name;
    uint64_t size;
    bool isProtected;
  };
  auto out = std::make_shared<std::vector<Snap>>();
  return Run(
      info.Env(), t.cluster,
      [t, out](CephErr& err) {
        Image img;
        if (!OpenImage(*t.cluster, t.pool, t.image, false, nullptr, img, err)) return;
        std::vector<rbd_snap_info_t> snaps(16);
        int n = 0;
        for (;;) {
          int max = static_cast<int>(snaps.size());
          n = rbd_snap_list(img.img, snaps.data(), &max);
          if (n == -ERANGE) {
            snaps.resize(max);
            continue;
          }
          if (n < 0) return (void)err.Set(n, "rbd_snap_list(" + t.spec() + ")");
          break;
        }
        for (int i = 0; i < n && !err; i++) {
          int prot = 0;
          int r = rbd_snap_is_protected(img.img, snaps[i].name, &prot);
          if (r < 0) err.Set(r, "rbd_snap_is_protected(" + t.spec() + "@" + snaps[i].name + ")");
          out->push_back({snaps[i].name, snaps[i].size, prot != 0});
        }
        rbd_snap_list_end(snaps.data());
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, out->size());
        for (size_t i = 0; i < out->size(); i++) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("name", (*out)[i].name);
          o.Set("size", Number(env, (*out)[i].size));
          o.Set("protected", (*out)[i].isProtected);
          a.Set(i, o);
        }
        return a;
      });
}

/** A call on image@snapshot through a writable open: create, protect, unprotect, remove. */
static Napi::Value SnapCall(const Napi::CallbackInfo& info, const char* fn, int (*call)(rbd_image_t, const char*)) {
  Target t = ArgTarget(info);
  std::string snap = ArgStr(info, 2, "snapshot name");
  return Run(info.Env(), t.cluster, [t, snap, fn, call](CephErr& err) {
    Image img;
    if (!OpenImage(*t.cluster, t.pool, t.image, true, nullptr, img, err)) return;
    int r = call(img.img, snap.c_str());
    if (r < 0) err.Set(r, std::string(fn) + "(" + t.spec() + "@" + snap + ")");
  });
}

VBC_FN(SnapCreate) { return SnapCall(info, "rbd_snap_create", rbd_snap_create); }
VBC_FN(SnapProtect) { return SnapCall(info, "rbd_snap_protect", rbd_snap_protect); }
VBC_FN(SnapUnprotect) { return SnapCall(info, "rbd_snap_unprotect", rbd_snap_unprotect); }
VBC_FN(SnapRemove) { return SnapCall(info, "rbd_snap_remove", rbd_snap_remove); }

// clone(pool, parent, snapshot, child, order): a COW child in the same pool with the parent's features;
// order 0 keeps the parent's object size, any other sets the child's own (one object per stripe).
VBC_FN(ImageClone) {
  Target t = ArgTarget(info);
  std::string snap = ArgStr(info, 2, "snapshot name");
  std::string child = ArgStr(info, 3, "child image name");
  uint64_t order = ArgU64(info, 4, "order");
  return Run(info.Env(), t.cluster, [t, snap, child, order](CephErr& err) {
    rados_ioctx_t io = nullptr;
    int r = t.cluster->IoCtx(t.pool, &io);
    if (r < 0) return (void)err.Set(r, "rados_ioctx_create(" + t.pool + ")");
    rbd_image_options_t opts;
    rbd_image_options_create(&opts);
    if (order) {
      // librbd copies the parent's stripe unit, which must divide the child's object size.
      rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_ORDER, order);
      rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_STRIPE_UNIT, uint64_t(1) << order);
      rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_STRIPE_COUNT, 1);
    }
    r = rbd_clone3(io, t.image.c_str(), snap.c_str(), io, child.c_str(), opts);
    rbd_image_options_destroy(opts);
    if (r < 0) err.Set(r, "rbd_clone3(" + t.spec() + "@" + snap + " -> " + Spec(t.pool, child) + ")");
  });
}

VBC_FN(ImageFlatten) {
  Target t = ArgTarget(info);
  return Run(info.Env(), t.cluster, [t](CephErr& err) {
    Image img;
    if (!OpenImage(*t.cluster, t.pool, t.image, true, nullptr, img, err)) return;
    int r = rbd_flatten(img.img);
    if (r < 0) err.Set(r, "rbd_flatten(" + t.spec() + ")");
  });
}

VBC_FN(ImageRemove) {
  Target t = ArgTarget(info);
  return Run(info.Env(), t.cluster, [t](CephErr& err) {
    rados_ioctx_t io = nullptr;
    int r = t.cluster->IoCtx(t.pool, &io);
    if (r < 0) return (void)err.Set(r, "rados_ioctx_create(" + t.pool + ")");
    r = rbd_remove(io, t.image.c_str());
    if (r < 0) err.Set(r, "rbd_remove(" + t.spec() + ")");
  });
}

VBC_FN(PoolImages) {
  Handle* h = ArgHandle(info, 0, true);
  auto cluster = h->cluster;
  std::string pool = h->pool;
  auto out = std::make_shared<std::vector<std::string>>();
  return Run(
      info.Env(), cluster,
      [cluster, pool, out](CephErr& err) {
        rados_ioctx_t io = nullptr;
        int r = cluster->IoCtx(pool, &io);
        if (r < 0) return (void)err.Set(r, "rados_ioctx_create(" + pool + ")");
        std::vector<rbd_image_spec_t> specs(1024);
        for (;;) {
          size_t n = specs.size();
          r = rbd_list2(io, specs.data(), &n);
          if (r == -ERANGE) {
            specs.resize(n);
            continue;
          }
          if (r < 0) return (void)err.Set(r, "rbd_list2(" + pool + ")");
          for (size_t i = 0; i < n; i++) out->push_back(specs[i].name ? specs[i].name : "");
          rbd_image_spec_list_cleanup(specs.data(), n);
          return;
        }
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, out->size());
        for (size_t i = 0; i < out->size(); i++) a.Set(i, (*out)[i]);
        return a;
      });
}

static Registrar reg({
    {"poolImages", PoolImages, {"rbd_list2"}},
    {"imageSize", ImageSize, {"rbd_open_read_only", "rbd_get_size", "rbd_close"}},
    {"imageCreate", ImageCreate, {"rbd_create4", "rbd_image_options_create", "rbd_image_options_set_uint64"}},
    {"imageWrite", ImageWrite, {"rbd_open", "rbd_get_size", "rbd_write", "rbd_flush", "rbd_close"}},
    {"imageRead", ImageRead, {"rbd_open_read_only", "rbd_get_size", "rbd_read", "rbd_close"}},
    {"imageLayerExtents", ImageLayerExtents, {"rbd_open_read_only", "rbd_diff_iterate2", "rbd_close"}},
    {"imageParent", ImageParent, {"rbd_open_read_only", "rbd_get_parent", "rbd_close"}},
    {"imageChildren", ImageChildren, {"rbd_open_read_only", "rbd_list_children3", "rbd_close"}},
    {"imageSnapshots", ImageSnapshots, {"rbd_open_read_only", "rbd_snap_list", "rbd_snap_is_protected", "rbd_close"}},
    {"snapCreate", SnapCreate, {"rbd_open", "rbd_snap_create", "rbd_close"}},
    {"snapProtect", SnapProtect, {"rbd_open", "rbd_snap_protect", "rbd_close"}},
    {"snapUnprotect", SnapUnprotect, {"rbd_open", "rbd_snap_unprotect", "rbd_close"}},
    {"snapRemove", SnapRemove, {"rbd_open", "rbd_snap_remove", "rbd_close"}},
    {"imageClone", ImageClone, {"rbd_clone3", "rbd_image_options_set_uint64"}},
    {"imageFlatten", ImageFlatten, {"rbd_open", "rbd_flatten", "rbd_close"}},
    {"imageRemove", ImageRemove, {"rbd_remove"}},
});

}  // namespace vbc
