// Secrets: lookups and the value itself (e.g. a cephx key), which must leave no copy behind.
#include <string.h>

#include "shapes.h"

namespace vb {

static virConnectPtr C(const Ref& r) { return Get<virConnectPtr>(r); }
static virSecretPtr S(const Ref& r) { return Get<virSecretPtr>(r); }

/** Overwrites n bytes in a way the compiler may not drop as a dead store before free(). */
static void Wipe(void* p, size_t n) {
  if (p && n) explicit_bzero(p, n);
}

VB_FN(SecretLookupByUUIDString) {
  auto c = RefOf(info, 0, Kind::Connect, "virSecretLookupByUUIDString");
  auto uuid = ArgStr(info, 1);
  return HandleCall(info.Env(), "virSecretLookupByUUIDString", Kind::Secret,
                    [=]() -> void* { return virSecretLookupByUUIDString(C(c), uuid.c_str()); });
}

VB_FN(SecretLookupByUsage) {
  auto c = RefOf(info, 0, Kind::Connect, "virSecretLookupByUsage");
  int usageType = ArgI32(info, 1);
  auto usageID = ArgStr(info, 2);
  return HandleCall(info.Env(), "virSecretLookupByUsage", Kind::Secret,
                    [=]() -> void* { return virSecretLookupByUsage(C(c), usageType, usageID.c_str()); });
}

VB_FN(SecretGetUUIDString) {
  auto s = RefOf(info, 0, Kind::Secret, "virSecretGetUUIDString");
  auto buf = std::make_shared<std::string>(VIR_UUID_STRING_BUFLEN, '\0');
  return ConstStrCall(info.Env(), "virSecretGetUUIDString", [s, buf]() -> const char* {
    return virSecretGetUUIDString(S(s), buf->data()) < 0 ? nullptr : buf->c_str();
  });
}

VB_FN(SecretGetXMLDesc) {
  auto s = RefOf(info, 0, Kind::Secret, "virSecretGetXMLDesc");
  uint32_t flags = ArgU32(info, 1);
  return StrCall(info.Env(), "virSecretGetXMLDesc", [=] { return virSecretGetXMLDesc(S(s), flags); });
}

VB_FN(SecretGetValue) {
  auto s = RefOf(info, 0, Kind::Secret, "virSecretGetValue");
  uint32_t flags = ArgU32(info, 1);
  // libvirt's malloc'ed value stays in this one buffer until it is copied into the JS Buffer, then
  // it is wiped and freed — also when the promise is rejected or the environment goes away first.
  struct Value {
    unsigned char* data = nullptr;
    size_t size = 0;
    ~Value() {
      Wipe(data, size);
      free(data);
    }
  };
  auto res = std::make_shared<Value>();
  return Run(
      info.Env(), "virSecretGetValue",
      [=] {
        res->data = virSecretGetValue(S(s), &res->size, flags);
        return res->data != nullptr;
      },
      [res](Napi::Env env) -> Napi::Value {
        auto out = Napi::Buffer<unsigned char>::Copy(env, res->data, res->size);
        Wipe(res->data, res->size);
        free(res->data);
        res->data = nullptr;
        return out;
      });
}

static Registrar reg({
    {"secretLookupByUUIDString", SecretLookupByUUIDString, {"virSecretLookupByUUIDString"}},
    {"secretLookupByUsage", SecretLookupByUsage, {"virSecretLookupByUsage"}},
    {"secretGetUUIDString", SecretGetUUIDString, {"virSecretGetUUIDString"}},
    {"secretGetXMLDesc", SecretGetXMLDesc, {"virSecretGetXMLDesc"}},
    {"secretGetValue", SecretGetValue, {"virSecretGetValue"}},
});

}  // namespace vb
