// readMany: many small images read whole in one worker hop, on a few native threads sharing the
// one connected cluster (a catalog scan reads thousands of document images). Each image's error
// is returned with that image, so one unreadable image does not fail the batch.
#include <atomic>
#include <cerrno>
#include <thread>

#include "common.h"

namespace vbc {

struct ImageRead {
  std::string name;
  std::string data;
  CephErr err;
};

static void ReadOne(ClusterState& c, const std::string& pool, uint64_t maxBytes, ImageRead& item) {
  Image img;
  if (!OpenImage(c, pool, item.name, false, nullptr, img, item.err)) return;
  uint64_t size = 0;
  int r = rbd_get_size(img.img, &size);
  if (r < 0) return (void)item.err.Set(r, "rbd_get_size(" + Spec(pool, item.name) + ")");
  if (size > maxBytes)
    return (void)item.err.Own(EFBIG, "image " + Spec(pool, item.name) + " is " + std::to_string(size) +
                                         " bytes, more than the " + std::to_string(maxBytes) + " a read may take");
  item.data.resize(size);
  for (uint64_t done = 0; done < size;) {
    ssize_t got = rbd_read(img.img, done, size - done, item.data.data() + done);
    if (got < 0) return (void)item.err.Set(static_cast<int>(got), "rbd_read(" + Spec(pool, item.name) + ")");
    if (got == 0) return (void)item.err.Own(EIO, "rbd_read(" + Spec(pool, item.name) + ") returned no data");
    done += static_cast<uint64_t>(got);
  }
}

// readMany(pool, names, maxBytes, threads) → [{image, bytes} | {image, errno, message}]
VBC_FN(ReadMany) {
  Napi::Env env = info.Env();
  Handle* h = ArgHandle(info, 0, true);
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "images must be an array of names");
  Napi::Array names = info[1].As<Napi::Array>();
  auto items = std::make_shared<std::vector<ImageRead>>(names.Length());
  for (uint32_t i = 0; i < names.Length(); i++) {
    Napi::Value v = names.Get(i);
    if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty())
      throw Napi::TypeError::New(env, "images[" + std::to_string(i) + "] must be a non-empty string");
    (*items)[i].name = v.As<Napi::String>().Utf8Value();
  }
  uint64_t maxBytes = ArgU64(info, 2, "maxBytes");
  uint64_t threads = ArgU64(info, 3, "threads");
  if (threads < 1 || threads > 64) throw Napi::RangeError::New(env, "threads must be 1..64");
  Cluster c = h->cluster;
  std::string pool = h->pool;
  return Run(
      env, c,
      [c, pool, items, maxBytes, threads](CephErr&) {
        std::atomic<size_t> next{0};
        auto work = [&] {
          for (size_t i; (i = next.fetch_add(1)) < items->size();) ReadOne(*c, pool, maxBytes, (*items)[i]);
        };
        size_t n = std::min<size_t>(threads, items->size());
        std::vector<std::thread> pool_threads;
        for (size_t i = 1; i < n; i++) pool_threads.emplace_back(work);
        work();  // this worker thread reads too
        for (auto& t : pool_threads) t.join();
      },
      [items](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, items->size());
        for (size_t i = 0; i < items->size(); i++) {
          ImageRead& it = (*items)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("image", it.name);
          if (it.err) {
            o.Set("errno", it.err.code);
            o.Set("message", it.err.message);
          } else {
            o.Set("bytes", Napi::Buffer<char>::Copy(env, it.data.data(), it.data.size()));
          }
          out.Set(i, o);
          std::string().swap(it.data);
        }
        return out;
      });
}

static Registrar reg({
    {"readMany", ReadMany, {"rbd_open_read_only", "rbd_get_size", "rbd_read", "rbd_close"}},
});

}  // namespace vbc
