// Batch calls: many libvirt calls in one worker hop, for catalog scans over thousands of volumes.
// Each item's libvirt error is captured on the worker thread and returned with that item, so one
// unreadable volume does not fail the batch.
#include <cstdlib>
#include <thread>
#include <unordered_map>

#include "shapes.h"

namespace vb {

static virStoragePoolPtr P(const Ref& r) { return Get<virStoragePoolPtr>(r); }

/** Names of every volume of a pool: one ListAllVolumes RPC, names read locally, refs dropped here. */
VB_FN(StoragePoolListVolumeNames) {
  auto p = RefOf(info, 0, Kind::Pool, "virStoragePoolListAllVolumes");
  auto names = std::make_shared<std::vector<std::string>>();
  return Run(
      info.Env(), "virStoragePoolListAllVolumes",
      [p, names] {
        virStorageVolPtr* vols = nullptr;
        int n = virStoragePoolListAllVolumes(P(p), &vols, 0);
        if (n < 0) return false;
        for (int i = 0; i < n; i++) {
          const char* name = virStorageVolGetName(vols[i]);
          if (name) names->push_back(name);
          virStorageVolFree(vols[i]);
        }
        free(vols);
        return true;
      },
      [names](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, names->size());
        for (size_t i = 0; i < names->size(); i++) out.Set(i, Napi::String::New(env, (*names)[i]));
        return out;
      });
}

struct VolumeRead {
  std::string name;
  std::string data;
  bool ok = false;
  bool tooBig = false;
  LvError error;
};

/** Reads one whole volume through a download stream; false with `r.error` set on failure. */
static bool ReadWholeVolume(virStorageVolPtr vol, VolumeRead& r, size_t maxBytes) {
  virStreamPtr st = virStreamNew(virStorageVolGetConnect(vol), 0);
  bool ok = st && virStorageVolDownload(vol, st, 0, 0, 0) == 0;
  if (!ok) r.error = CaptureLastError(st ? "virStorageVolDownload" : "virStreamNew");
  char buf[65536];
  while (ok) {
    int n = virStreamRecv(st, buf, sizeof buf);
    if (n < 0) {
      r.error = CaptureLastError("virStreamRecv");
      ok = false;
    } else if (n == 0) {
      if (virStreamFinish(st) < 0) {
        r.error = CaptureLastError("virStreamFinish");
        ok = false;
      }
      break;
    } else if (r.data.size() + n > maxBytes) {
      r.tooBig = true;
      ok = false;
    } else {
      r.data.append(buf, n);
    }
  }
  if (st) {
    if (!ok) virStreamAbort(st);
    virStreamFree(st);
  }
  virResetLastError();
  return ok;
}

/**
 * Lists the pool once (its volume handles spare a lookup round trip per name), then downloads the
 * named volumes on `threads` threads: the round trips of different volumes overlap.
 */
static bool ReadVolumes(virStoragePoolPtr pool, std::vector<VolumeRead>& reads, size_t maxBytes, unsigned threads) {
  virStorageVolPtr* vols = nullptr;
  int n = virStoragePoolListAllVolumes(pool, &vols, 0);
  if (n < 0) return false;
  std::unordered_map<std::string, virStorageVolPtr> byName;
  for (int i = 0; i < n; i++) {
    const char* name = virStorageVolGetName(vols[i]);
    if (name) byName.emplace(name, vols[i]);
  }
  auto work = [&](size_t first, size_t step) {
    for (size_t i = first; i < reads.size(); i += step) {
      auto& r = reads[i];
      auto it = byName.find(r.name);
      if (it == byName.end()) {
        r.error.code = VIR_ERR_NO_STORAGE_VOL;
        r.error.domain = VIR_FROM_STORAGE;
        r.error.message = "Storage volume not found: no storage vol with matching name '" + r.name + "'";
        r.error.function = "virStoragePoolListAllVolumes";
        continue;
      }
      r.ok = ReadWholeVolume(it->second, r, maxBytes);
    }
  };
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(reads.size())));
  std::vector<std::thread> pool_threads;
  for (unsigned t = 1; t < threads; t++) pool_threads.emplace_back(work, t, threads);
  work(0, threads);
  for (auto& t : pool_threads) t.join();
  for (int i = 0; i < n; i++) virStorageVolFree(vols[i]);
  free(vols);
  return true;
}

/**
 * readVolumes(pool, names, maxBytes, threads): [{name, data: Buffer} | {name, tooBig} | {name, error}]
 * in input order. A volume larger than maxBytes is reported, not read to the end.
 */
VB_FN(StoragePoolReadVolumes) {
  auto p = RefOf(info, 0, Kind::Pool, "virStorageVolDownload");
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "readVolumes: argument 1 must be an array of names");
  auto arr = info[1].As<Napi::Array>();
  size_t maxBytes = static_cast<size_t>(ArgU64(info, 2, 16 * 1024 * 1024));
  unsigned threads = ArgU32(info, 3, 4);
  auto reads = std::make_shared<std::vector<VolumeRead>>(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) (*reads)[i].name = arr.Get(i).As<Napi::String>().Utf8Value();
  return Run(
      info.Env(), "virStorageVolDownload",
      [p, reads, maxBytes, threads] { return ReadVolumes(P(p), *reads, maxBytes, threads); },
      [reads, maxBytes](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, reads->size());
        for (size_t i = 0; i < reads->size(); i++) {
          auto& r = (*reads)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("name", Napi::String::New(env, r.name));
          if (r.ok) {
            o.Set("data", Napi::Buffer<char>::Copy(env, r.data.data(), r.data.size()));
          } else if (r.tooBig) {
            o.Set("tooBig", Napi::Number::New(env, static_cast<double>(maxBytes)));
          } else {
            o.Set("error", MakeLvError(env, r.error).Value());
          }
          out.Set(i, o);
        }
        return out;
      });
}

static Registrar reg({
    {"storagePoolListVolumeNames", StoragePoolListVolumeNames, {"virStoragePoolListAllVolumes", "virStorageVolGetName", "virStorageVolFree"}},
    {"storagePoolReadVolumes",
     StoragePoolReadVolumes,
     {"virStoragePoolListAllVolumes", "virStreamNew", "virStorageVolDownload", "virStreamRecv", "virStreamFinish", "virStreamAbort"}},
});

}  // namespace vb
