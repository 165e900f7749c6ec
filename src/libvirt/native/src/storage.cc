// Storage API: pools, volumes, and the volume upload/download streams.
#include <cstring>

#include "shapes.h"

namespace vb {

static virStoragePoolPtr P(const Ref& r) { return Get<virStoragePoolPtr>(r); }
static virStorageVolPtr V(const Ref& r) { return Get<virStorageVolPtr>(r); }
static virStreamPtr S(const Ref& r) { return Get<virStreamPtr>(r); }

#define POOL_INT(jsname, cfn, shape, expr)                                        \
  VB_FN(jsname) {                                                                 \
    auto p = RefOf(info, 0, Kind::Pool, #cfn);                                    \
    uint32_t flags = ArgU32(info, 1);                                             \
    (void)flags;                                                                  \
    return IntCall(info.Env(), #cfn, shape, [=]() -> long long { return expr; }); \
  }

POOL_INT(StoragePoolBuild, virStoragePoolBuild, IntResult::Undefined, virStoragePoolBuild(P(p), flags))
POOL_INT(StoragePoolCreate, virStoragePoolCreate, IntResult::Undefined, virStoragePoolCreate(P(p), flags))
POOL_INT(StoragePoolDestroy, virStoragePoolDestroy, IntResult::Undefined, virStoragePoolDestroy(P(p)))
POOL_INT(StoragePoolUndefine, virStoragePoolUndefine, IntResult::Undefined, virStoragePoolUndefine(P(p)))
POOL_INT(StoragePoolDelete, virStoragePoolDelete, IntResult::Undefined, virStoragePoolDelete(P(p), flags))
POOL_INT(StoragePoolRefresh, virStoragePoolRefresh, IntResult::Undefined, virStoragePoolRefresh(P(p), flags))
POOL_INT(StoragePoolIsActive, virStoragePoolIsActive, IntResult::Boolean, virStoragePoolIsActive(P(p)))
POOL_INT(StoragePoolIsPersistent, virStoragePoolIsPersistent, IntResult::Boolean, virStoragePoolIsPersistent(P(p)))
POOL_INT(StoragePoolSetAutostart, virStoragePoolSetAutostart, IntResult::Undefined,
         virStoragePoolSetAutostart(P(p), flags ? 1 : 0))
POOL_INT(StoragePoolGetAutostart, virStoragePoolGetAutostart, IntResult::Boolean, [&] {
  int a = 0;
  return virStoragePoolGetAutostart(P(p), &a) < 0 ? -1 : a;
}())

VB_FN(StoragePoolGetName) {
  auto p = RefOf(info, 0, Kind::Pool, "virStoragePoolGetName");
  return ConstStrCall(info.Env(), "virStoragePoolGetName", [p] { return virStoragePoolGetName(P(p)); });
}

VB_FN(StoragePoolGetUUIDString) {
  auto p = RefOf(info, 0, Kind::Pool, "virStoragePoolGetUUIDString");
  auto buf = std::make_shared<std::string>(VIR_UUID_STRING_BUFLEN, '\0');
  return ConstStrCall(info.Env(), "virStoragePoolGetUUIDString", [p, buf]() -> const char* {
    return virStoragePoolGetUUIDString(P(p), buf->data()) < 0 ? nullptr : buf->c_str();
  });
}

VB_FN(StoragePoolGetXMLDesc) {
  auto p = RefOf(info, 0, Kind::Pool, "virStoragePoolGetXMLDesc");
  uint32_t flags = ArgU32(info, 1);
  return StrCall(info.Env(), "virStoragePoolGetXMLDesc", [=] { return virStoragePoolGetXMLDesc(P(p), flags); });
}

VB_FN(StoragePoolGetInfo) {
  auto p = RefOf(info, 0, Kind::Pool, "virStoragePoolGetInfo");
  auto res = std::make_shared<virStoragePoolInfo>();
  return Run(
      info.Env(), "virStoragePoolGetInfo", [p, res] { return virStoragePoolGetInfo(P(p), res.get()) == 0; },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", res->state);
        o.Set("capacity", static_cast<double>(res->capacity));
        o.Set("allocation", static_cast<double>(res->allocation));
        o.Set("available", static_cast<double>(res->available));
        return o;
      });
}

VB_FN(StoragePoolListAllVolumes) {
  auto p = RefOf(info, 0, Kind::Pool, "virStoragePoolListAllVolumes");
  uint32_t flags = ArgU32(info, 1);
  return ListCall(info.Env(), "virStoragePoolListAllVolumes", Kind::Volume, [=](void*** out) {
    return virStoragePoolListAllVolumes(P(p), reinterpret_cast<virStorageVolPtr**>(out), flags);
  });
}

VB_FN(StoragePoolLookupByVolume) {
  auto v = RefOf(info, 0, Kind::Volume, "virStoragePoolLookupByVolume");
  return HandleCall(info.Env(), "virStoragePoolLookupByVolume", Kind::Pool,
                    [=]() -> void* { return virStoragePoolLookupByVolume(V(v)); });
}

// ---- volumes

VB_FN(StorageVolCreateXML) {
  auto p = RefOf(info, 0, Kind::Pool, "virStorageVolCreateXML");
  auto xml = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virStorageVolCreateXML", Kind::Volume,
                    [=]() -> void* { return virStorageVolCreateXML(P(p), xml.c_str(), flags); });
}

VB_FN(StorageVolCreateXMLFrom) {
  auto p = RefOf(info, 0, Kind::Pool, "virStorageVolCreateXMLFrom");
  auto xml = ArgStr(info, 1);
  auto from = RefOf(info, 2, Kind::Volume, "virStorageVolCreateXMLFrom");
  uint32_t flags = ArgU32(info, 3);
  return HandleCall(info.Env(), "virStorageVolCreateXMLFrom", Kind::Volume,
                    [=]() -> void* { return virStorageVolCreateXMLFrom(P(p), xml.c_str(), V(from), flags); });
}

VB_FN(StorageVolLookupByName) {
  auto p = RefOf(info, 0, Kind::Pool, "virStorageVolLookupByName");
  auto name = ArgStr(info, 1);
  return HandleCall(info.Env(), "virStorageVolLookupByName", Kind::Volume,
                    [=]() -> void* { return virStorageVolLookupByName(P(p), name.c_str()); });
}

#define VOL_INT(jsname, cfn, expr)                                                                \
  VB_FN(jsname) {                                                                                 \
    auto v = RefOf(info, 0, Kind::Volume, #cfn);                                                  \
    uint32_t flags = ArgU32(info, 1);                                                             \
    return IntCall(info.Env(), #cfn, IntResult::Undefined, [=]() -> long long { return expr; }); \
  }

VOL_INT(StorageVolDelete, virStorageVolDelete, virStorageVolDelete(V(v), flags))
VOL_INT(StorageVolWipe, virStorageVolWipe, virStorageVolWipe(V(v), flags))

VB_FN(StorageVolResize) {
  auto v = RefOf(info, 0, Kind::Volume, "virStorageVolResize");
  uint64_t capacity = ArgU64(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return IntCall(info.Env(), "virStorageVolResize", IntResult::Undefined,
                 [=]() -> long long { return virStorageVolResize(V(v), capacity, flags); });
}

VB_FN(StorageVolGetInfo) {
  auto v = RefOf(info, 0, Kind::Volume, "virStorageVolGetInfo");
  auto res = std::make_shared<virStorageVolInfo>();
  return Run(
      info.Env(), "virStorageVolGetInfo", [v, res] { return virStorageVolGetInfo(V(v), res.get()) == 0; },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("type", res->type);
        o.Set("capacity", static_cast<double>(res->capacity));
        o.Set("allocation", static_cast<double>(res->allocation));
        return o;
      });
}

VB_FN(StorageVolGetXMLDesc) {
  auto v = RefOf(info, 0, Kind::Volume, "virStorageVolGetXMLDesc");
  uint32_t flags = ArgU32(info, 1);
  return StrCall(info.Env(), "virStorageVolGetXMLDesc", [=] { return virStorageVolGetXMLDesc(V(v), flags); });
}

VB_FN(StorageVolGetPath) {
  auto v = RefOf(info, 0, Kind::Volume, "virStorageVolGetPath");
  return StrCall(info.Env(), "virStorageVolGetPath", [=] { return virStorageVolGetPath(V(v)); });
}

VB_FN(StorageVolGetKey) {
  auto v = RefOf(info, 0, Kind::Volume, "virStorageVolGetKey");
  return ConstStrCall(info.Env(), "virStorageVolGetKey", [=] { return virStorageVolGetKey(V(v)); });
}

VB_FN(StorageVolGetName) {
  auto v = RefOf(info, 0, Kind::Volume, "virStorageVolGetName");
  return ConstStrCall(info.Env(), "virStorageVolGetName", [=] { return virStorageVolGetName(V(v)); });
}

// ---- streams
// A transfer is: virStreamNew + virStorageVol{Up,Down}load (one call), then one worker call per
// chunk, then virStreamFinish or virStreamAbort. Each data call holds the stream's io mutex, so
// even a misbehaving caller cannot overlap two calls on one stream.

using TransferFn = int (*)(virStorageVolPtr, virStreamPtr, unsigned long long, unsigned long long, unsigned int);

static Napi::Value StartTransfer(const Napi::CallbackInfo& info, const char* fn, TransferFn start) {
  auto v = RefOf(info, 0, Kind::Volume, fn);
  uint64_t offset = ArgU64(info, 1);
  uint64_t length = ArgU64(info, 2);
  uint32_t flags = ArgU32(info, 3);
  auto res = std::make_shared<Ref>();
  return Run(
      info.Env(), fn,
      [=] {
        // The volume's connection stays valid while we hold the volume reference.
        virStreamPtr st = virStreamNew(virStorageVolGetConnect(V(v)), 0);
        if (!st) return false;
        if (start(V(v), st, offset, length, flags) < 0) {
          // Keep the transfer's error across virStreamFree, which may reset this thread's slot.
          KeepError(CaptureLastError(fn));
          virStreamFree(st);
          return false;
        }
        *res = std::make_shared<Owned>(Kind::Stream, st, std::make_shared<StreamState>());
        return true;
      },
      [res](Napi::Env env) -> Napi::Value { return Handle::New(env, *res); });
}

VB_FN(StorageVolDownload) { return StartTransfer(info, "virStorageVolDownload", virStorageVolDownload); }
VB_FN(StorageVolUpload) { return StartTransfer(info, "virStorageVolUpload", virStorageVolUpload); }

VB_FN(StreamRecv) {
  auto s = RefOf(info, 0, Kind::Stream, "virStreamRecvFlags");
  size_t max = ArgU32(info, 1, 1 << 20);
  bool stopAtHole = info[2].ToBoolean();
  if (max == 0) throw Napi::RangeError::New(info.Env(), "virStreamRecvFlags: chunk size must be > 0");
  struct Res {
    char* data = nullptr;
    long long n = 0;
    long long hole = -1;
    ~Res() { free(data); }
  };
  auto res = std::make_shared<Res>();
  return Run(
      info.Env(), "virStreamRecvFlags",
      [=] {
        std::lock_guard<std::mutex> lock(s->stream->io);
        res->data = static_cast<char*>(malloc(max));
        if (!res->data) return false;
        // The remote driver hands out one RPC message (<= 256 KiB) per call: keep reading
        // until the chunk is full, a hole starts, or the stream ends, so JS sees big chunks.
        size_t got = 0;
        while (got < max) {
          int r = virStreamRecvFlags(S(s), res->data + got, max - got, stopAtHole ? VIR_STREAM_RECV_STOP_AT_HOLE : 0);
          if (r == -3) {
            if (got > 0) break;  // deliver the data first; the next call reports the hole
            long long len = 0;
            if (virStreamRecvHole(S(s), &len, 0) < 0) return false;
            res->hole = len;
            return true;
          }
          if (r < 0) return false;
          if (r == 0) break;  // end of stream
          got += r;
        }
        long long n = static_cast<long long>(got);
        res->n = n;
        if (n > 0 && static_cast<size_t>(n) < max / 2) {
          // Do not pin a whole chunk-sized allocation behind a short read.
          char* shrunk = static_cast<char*>(realloc(res->data, n));
          if (shrunk) res->data = shrunk;
        }
        return true;
      },
      [res](Napi::Env env) -> Napi::Value {
        if (res->hole >= 0) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("hole", static_cast<double>(res->hole));
          return o;
        }
        if (res->n == 0) return env.Null();  // end of stream
        char* data = res->data;
        res->data = nullptr;
        return Napi::Buffer<char>::New(env, data, res->n, [](Napi::Env, char* p) { free(p); });
      });
}

VB_FN(StreamSend) {
  auto s = RefOf(info, 0, Kind::Stream, "virStreamSend");
  if (!info[1].IsBuffer()) throw Napi::TypeError::New(info.Env(), "virStreamSend: argument 1 must be a Buffer");
  auto b = info[1].As<Napi::Buffer<char>>();
  auto data = std::make_shared<std::vector<char>>(b.Data(), b.Data() + b.Length());  // copy: JS may reuse it
  return IntCall(info.Env(), "virStreamSend", IntResult::Undefined, [=]() -> long long {
    std::lock_guard<std::mutex> lock(s->stream->io);
    size_t off = 0;
    while (off < data->size()) {
      int n = virStreamSend(S(s), data->data() + off, data->size() - off);
      if (n < 0) return -1;
      off += n;
    }
    return 0;
  });
}

VB_FN(StreamSendHole) {
  auto s = RefOf(info, 0, Kind::Stream, "virStreamSendHole");
  long long length = static_cast<long long>(ArgU64(info, 1));
  return IntCall(info.Env(), "virStreamSendHole", IntResult::Undefined, [=]() -> long long {
    std::lock_guard<std::mutex> lock(s->stream->io);
    return virStreamSendHole(S(s), length, 0);
  });
}

VB_FN(StreamFinish) {
  auto s = RefOf(info, 0, Kind::Stream, "virStreamFinish");
  return IntCall(info.Env(), "virStreamFinish", IntResult::Undefined, [=]() -> long long {
    std::lock_guard<std::mutex> lock(s->stream->io);
    int r = virStreamFinish(S(s));
    if (r == 0) s->stream->ended = true;
    return r;
  });
}

VB_FN(StreamAbort) {
  auto s = RefOf(info, 0, Kind::Stream, "virStreamAbort");
  return IntCall(info.Env(), "virStreamAbort", IntResult::Undefined, [=]() -> long long {
    std::lock_guard<std::mutex> lock(s->stream->io);
    if (s->stream->ended.exchange(true)) return 0;  // already finished or aborted
    return virStreamAbort(S(s));
  });
}

static Registrar reg({
    {"storagePoolBuild", StoragePoolBuild, {"virStoragePoolBuild"}},
    {"storagePoolCreate", StoragePoolCreate, {"virStoragePoolCreate"}},
    {"storagePoolDestroy", StoragePoolDestroy, {"virStoragePoolDestroy"}},
    {"storagePoolUndefine", StoragePoolUndefine, {"virStoragePoolUndefine"}},
    {"storagePoolDelete", StoragePoolDelete, {"virStoragePoolDelete"}},
    {"storagePoolRefresh", StoragePoolRefresh, {"virStoragePoolRefresh"}},
    {"storagePoolIsActive", StoragePoolIsActive, {"virStoragePoolIsActive"}},
    {"storagePoolIsPersistent", StoragePoolIsPersistent, {"virStoragePoolIsPersistent"}},
    {"storagePoolSetAutostart", StoragePoolSetAutostart, {"virStoragePoolSetAutostart"}},
    {"storagePoolGetAutostart", StoragePoolGetAutostart, {"virStoragePoolGetAutostart"}},
    {"storagePoolGetName", StoragePoolGetName, {"virStoragePoolGetName"}},
    {"storagePoolGetUUIDString", StoragePoolGetUUIDString, {"virStoragePoolGetUUIDString"}},
    {"storagePoolGetXMLDesc", StoragePoolGetXMLDesc, {"virStoragePoolGetXMLDesc"}},
    {"storagePoolGetInfo", StoragePoolGetInfo, {"virStoragePoolGetInfo"}},
    {"storagePoolListAllVolumes", StoragePoolListAllVolumes, {"virStoragePoolListAllVolumes"}},
    {"storagePoolLookupByVolume", StoragePoolLookupByVolume, {"virStoragePoolLookupByVolume"}},
    {"storageVolCreateXML", StorageVolCreateXML, {"virStorageVolCreateXML"}},
    {"storageVolCreateXMLFrom", StorageVolCreateXMLFrom, {"virStorageVolCreateXMLFrom"}},
    {"storageVolLookupByName", StorageVolLookupByName, {"virStorageVolLookupByName"}},
    {"storageVolDelete", StorageVolDelete, {"virStorageVolDelete"}},
    {"storageVolWipe", StorageVolWipe, {"virStorageVolWipe"}},
    {"storageVolResize", StorageVolResize, {"virStorageVolResize"}},
    {"storageVolGetInfo", StorageVolGetInfo, {"virStorageVolGetInfo"}},
    {"storageVolGetXMLDesc", StorageVolGetXMLDesc, {"virStorageVolGetXMLDesc"}},
    {"storageVolGetPath", StorageVolGetPath, {"virStorageVolGetPath"}},
    {"storageVolGetKey", StorageVolGetKey, {"virStorageVolGetKey"}},
    {"storageVolGetName", StorageVolGetName, {"virStorageVolGetName"}},
    {"storageVolDownload", StorageVolDownload, {"virStreamNew", "virStorageVolDownload", "virStorageVolGetConnect", "virStreamFree"}},
    {"storageVolUpload", StorageVolUpload, {"virStreamNew", "virStorageVolUpload", "virStorageVolGetConnect", "virStreamFree"}},
    {"streamRecv", StreamRecv, {"virStreamRecvFlags", "virStreamRecvHole"}},
    {"streamSend", StreamSend, {"virStreamSend"}},
    {"streamSendHole", StreamSendHole, {"virStreamSendHole"}},
    {"streamFinish", StreamFinish, {"virStreamFinish"}},
    {"streamAbort", StreamAbort, {"virStreamAbort"}},
});

}  // namespace vb
