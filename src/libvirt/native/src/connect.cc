// Connection-level API: open/close, host facts, and the lookups/lists/defines rooted at a connection.
#include "shapes.h"

namespace vb {

static virConnectPtr C(const Ref& r) { return Get<virConnectPtr>(r); }

VB_FN(ConnectOpen) {
  auto uri = ArgOptStr(info, 0);
  uint32_t flags = ArgU32(info, 1);
  return HandleCall(info.Env(), "virConnectOpenAuth", Kind::Connect, [uri, flags]() -> void* {
    // No auth callbacks: a library must never prompt on a terminal (ssh keys/agents still work).
    return virConnectOpenAuth(uri ? uri->c_str() : nullptr, nullptr, flags);
  });
}

VB_FN(ConnectClose) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "virConnectClose: argument 0 must be a connection handle");
  Handle* h = Handle::Unwrap(info[0].As<Napi::Object>());
  if (h->kind != Kind::Connect) throw Napi::TypeError::New(env, "virConnectClose: not a connection handle");
  if (!h->ptr) ThrowFreed(env, Kind::Connect, "virConnectClose");
  Ref r = h->Detach();
  return IntCall(env, "virConnectClose", IntResult::Number, [r]() -> long long {
    void* p = r->ptr;
    r->ptr = nullptr;
    return virConnectClose(static_cast<virConnectPtr>(p));
  });
}

VB_FN(ConnectGetLibVersion) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetLibVersion");
  return IntCall(info.Env(), "virConnectGetLibVersion", IntResult::Number, [c]() -> long long {
    unsigned long v = 0;
    return virConnectGetLibVersion(C(c), &v) < 0 ? -1 : static_cast<long long>(v);
  });
}

VB_FN(ConnectGetVersion) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetVersion");
  return IntCall(info.Env(), "virConnectGetVersion", IntResult::Number, [c]() -> long long {
    unsigned long v = 0;
    return virConnectGetVersion(C(c), &v) < 0 ? -1 : static_cast<long long>(v);
  });
}

VB_FN(ConnectGetHostname) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetHostname");
  return StrCall(info.Env(), "virConnectGetHostname", [c] { return virConnectGetHostname(C(c)); });
}

VB_FN(ConnectGetURI) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetURI");
  return StrCall(info.Env(), "virConnectGetURI", [c] { return virConnectGetURI(C(c)); });
}

VB_FN(ConnectGetType) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetType");
  return ConstStrCall(info.Env(), "virConnectGetType", [c] { return virConnectGetType(C(c)); });
}

VB_FN(ConnectGetCapabilities) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetCapabilities");
  return StrCall(info.Env(), "virConnectGetCapabilities", [c] { return virConnectGetCapabilities(C(c)); });
}

VB_FN(ConnectGetDomainCapabilities) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectGetDomainCapabilities");
  auto emulator = ArgOptStr(info, 1), arch = ArgOptStr(info, 2), machine = ArgOptStr(info, 3),
       virttype = ArgOptStr(info, 4);
  uint32_t flags = ArgU32(info, 5);
  auto cs = [](const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; };
  return StrCall(info.Env(), "virConnectGetDomainCapabilities", [=] {
    return virConnectGetDomainCapabilities(C(c), cs(emulator), cs(arch), cs(machine), cs(virttype), flags);
  });
}

VB_FN(ConnectSetKeepAlive) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectSetKeepAlive");
  int interval = ArgI32(info, 1);
  uint32_t count = ArgU32(info, 2);
  return IntCall(info.Env(), "virConnectSetKeepAlive", IntResult::Number,
                 [=]() -> long long { return virConnectSetKeepAlive(C(c), interval, count); });
}

VB_FN(ConnectIsAlive) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectIsAlive");
  return IntCall(info.Env(), "virConnectIsAlive", IntResult::Boolean,
                 [c]() -> long long { return virConnectIsAlive(C(c)); });
}

VB_FN(ConnectListAllDomains) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectListAllDomains");
  uint32_t flags = ArgU32(info, 1);
  return ListCall(info.Env(), "virConnectListAllDomains", Kind::Domain, [=](void*** out) {
    return virConnectListAllDomains(C(c), reinterpret_cast<virDomainPtr**>(out), flags);
  });
}

VB_FN(DomainLookupByName) {
  auto c = RefOf(info, 0, Kind::Connect, "virDomainLookupByName");
  auto name = ArgStr(info, 1);
  return HandleCall(info.Env(), "virDomainLookupByName", Kind::Domain,
                    [=]() -> void* { return virDomainLookupByName(C(c), name.c_str()); });
}

VB_FN(DomainLookupByUUIDString) {
  auto c = RefOf(info, 0, Kind::Connect, "virDomainLookupByUUIDString");
  auto uuid = ArgStr(info, 1);
  return HandleCall(info.Env(), "virDomainLookupByUUIDString", Kind::Domain,
                    [=]() -> void* { return virDomainLookupByUUIDString(C(c), uuid.c_str()); });
}

VB_FN(DomainDefineXMLFlags) {
  auto c = RefOf(info, 0, Kind::Connect, "virDomainDefineXMLFlags");
  auto xml = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virDomainDefineXMLFlags", Kind::Domain,
                    [=]() -> void* { return virDomainDefineXMLFlags(C(c), xml.c_str(), flags); });
}

VB_FN(DomainCreateXML) {
  auto c = RefOf(info, 0, Kind::Connect, "virDomainCreateXML");
  auto xml = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virDomainCreateXML", Kind::Domain,
                    [=]() -> void* { return virDomainCreateXML(C(c), xml.c_str(), flags); });
}

VB_FN(ConnectListAllStoragePools) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectListAllStoragePools");
  uint32_t flags = ArgU32(info, 1);
  return ListCall(info.Env(), "virConnectListAllStoragePools", Kind::Pool, [=](void*** out) {
    return virConnectListAllStoragePools(C(c), reinterpret_cast<virStoragePoolPtr**>(out), flags);
  });
}

VB_FN(StoragePoolLookupByName) {
  auto c = RefOf(info, 0, Kind::Connect, "virStoragePoolLookupByName");
  auto name = ArgStr(info, 1);
  return HandleCall(info.Env(), "virStoragePoolLookupByName", Kind::Pool,
                    [=]() -> void* { return virStoragePoolLookupByName(C(c), name.c_str()); });
}

VB_FN(StoragePoolLookupByUUIDString) {
  auto c = RefOf(info, 0, Kind::Connect, "virStoragePoolLookupByUUIDString");
  auto uuid = ArgStr(info, 1);
  return HandleCall(info.Env(), "virStoragePoolLookupByUUIDString", Kind::Pool,
                    [=]() -> void* { return virStoragePoolLookupByUUIDString(C(c), uuid.c_str()); });
}

VB_FN(StoragePoolDefineXML) {
  auto c = RefOf(info, 0, Kind::Connect, "virStoragePoolDefineXML");
  auto xml = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virStoragePoolDefineXML", Kind::Pool,
                    [=]() -> void* { return virStoragePoolDefineXML(C(c), xml.c_str(), flags); });
}

VB_FN(StoragePoolCreateXML) {
  auto c = RefOf(info, 0, Kind::Connect, "virStoragePoolCreateXML");
  auto xml = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virStoragePoolCreateXML", Kind::Pool,
                    [=]() -> void* { return virStoragePoolCreateXML(C(c), xml.c_str(), flags); });
}

VB_FN(StorageVolLookupByPath) {
  auto c = RefOf(info, 0, Kind::Connect, "virStorageVolLookupByPath");
  auto path = ArgStr(info, 1);
  return HandleCall(info.Env(), "virStorageVolLookupByPath", Kind::Volume,
                    [=]() -> void* { return virStorageVolLookupByPath(C(c), path.c_str()); });
}

VB_FN(StorageVolLookupByKey) {
  auto c = RefOf(info, 0, Kind::Connect, "virStorageVolLookupByKey");
  auto key = ArgStr(info, 1);
  return HandleCall(info.Env(), "virStorageVolLookupByKey", Kind::Volume,
                    [=]() -> void* { return virStorageVolLookupByKey(C(c), key.c_str()); });
}

static Registrar reg({
    {"connectOpen", ConnectOpen, {"virConnectOpenAuth"}},
    {"connectClose", ConnectClose, {"virConnectClose"}},
    {"connectGetLibVersion", ConnectGetLibVersion, {"virConnectGetLibVersion"}},
    {"connectGetVersion", ConnectGetVersion, {"virConnectGetVersion"}},
    {"connectGetHostname", ConnectGetHostname, {"virConnectGetHostname"}},
    {"connectGetURI", ConnectGetURI, {"virConnectGetURI"}},
    {"connectGetType", ConnectGetType, {"virConnectGetType"}},
    {"connectGetCapabilities", ConnectGetCapabilities, {"virConnectGetCapabilities"}},
    {"connectGetDomainCapabilities", ConnectGetDomainCapabilities, {"virConnectGetDomainCapabilities"}},
    {"connectSetKeepAlive", ConnectSetKeepAlive, {"virConnectSetKeepAlive"}},
    {"connectIsAlive", ConnectIsAlive, {"virConnectIsAlive"}},
    {"connectListAllDomains", ConnectListAllDomains, {"virConnectListAllDomains"}},
    {"domainLookupByName", DomainLookupByName, {"virDomainLookupByName"}},
    {"domainLookupByUUIDString", DomainLookupByUUIDString, {"virDomainLookupByUUIDString"}},
    {"domainDefineXMLFlags", DomainDefineXMLFlags, {"virDomainDefineXMLFlags"}},
    {"domainCreateXML", DomainCreateXML, {"virDomainCreateXML"}},
    {"connectListAllStoragePools", ConnectListAllStoragePools, {"virConnectListAllStoragePools"}},
    {"storagePoolLookupByName", StoragePoolLookupByName, {"virStoragePoolLookupByName"}},
    {"storagePoolLookupByUUIDString", StoragePoolLookupByUUIDString, {"virStoragePoolLookupByUUIDString"}},
    {"storagePoolDefineXML", StoragePoolDefineXML, {"virStoragePoolDefineXML"}},
    {"storagePoolCreateXML", StoragePoolCreateXML, {"virStoragePoolCreateXML"}},
    {"storageVolLookupByPath", StorageVolLookupByPath, {"virStorageVolLookupByPath"}},
    {"storageVolLookupByKey", StorageVolLookupByKey, {"virStorageVolLookupByKey"}},
});

}  // namespace vb
