// volback_relaxng: libxml2's RelaxNG validator (the engine behind `xmllint --relaxng`) called in-process.
//
// Threading contract:
//  - xmlInitParser() runs once, on the main thread, when the module loads (libxml2 requires it
//    before any other thread uses the library).
//  - A compiled schema (xmlRelaxNGPtr) is immutable after xmlRelaxNGParse and is shared by every
//    validation; it lives for the whole process (schemas are few and compiled once each).
//  - Each AsyncWorker copies its inputs into plain C++ strings on the main thread, then parses and
//    validates on a libuv pool thread with its own xmlParserCtxt and one xmlRelaxNGValidCtxt per
//    document. Errors are collected through per-context structured handlers, never through
//    libxml2's global handlers, so concurrent workers cannot mix their messages.
//  - JS values are built only in OnOK, on the main thread.
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Beyond this many messages a document is hostile or hopeless; more text helps nobody.
constexpr size_t kMaxDiagnostics = 50;

// No network, no DTD loading (XML_PARSE_DTDLOAD not set), no entity substitution (XML_PARSE_NOENT
// not set), line numbers above 65535 kept. DOCTYPEs are refused outright by RefuseDoctype below.
constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_BIG_LINES;

struct Diagnostic {
  int line = 0;          // 0: libxml2 gave no line
  std::string element;   // empty: not about an element
  std::string message;
  std::string kind;      // "parser" (well-formedness), "schema" (RelaxNG validity), "warning"
};

struct Outcome {
  bool valid = false;
  std::vector<Diagnostic> diagnostics;
};

/** Collects the messages of one document (or one schema compile). */
struct Sink {
  std::vector<Diagnostic> diagnostics;
  bool doctypeRefused = false;

  void Add(Diagnostic d) {
    if (doctypeRefused || diagnostics.size() >= kMaxDiagnostics) return;
    while (!d.message.empty() && (d.message.back() == '\n' || d.message.back() == ' ')) d.message.pop_back();
    diagnostics.push_back(std::move(d));
  }

  void Add(const xmlError* err) {
    if (err == nullptr) return;
    Diagnostic d;
    d.line = err->line;
    auto node = static_cast<xmlNodePtr>(err->node);
    if (node != nullptr && node->type == XML_ELEMENT_NODE && node->name != nullptr) {
      d.element = reinterpret_cast<const char*>(node->name);
      if (d.line == 0) d.line = static_cast<int>(xmlGetLineNo(node));
    }
    d.message = err->message != nullptr ? err->message : "unknown libxml2 error";
    d.kind = err->level == XML_ERR_WARNING ? "warning"
             : (err->domain == XML_FROM_RELAXNGV || err->domain == XML_FROM_RELAXNGP) ? "schema"
                                                                                      : "parser";
    Add(std::move(d));
  }
};

// Structured handler of a RelaxNG (validation or schema-parser) context: data is the Sink.
void SinkError(void* data, xmlErrorPtr err) { static_cast<Sink*>(data)->Add(err); }

// Structured handler of a parser context: libxml2 passes ctxt->userData (the ctxt itself);
// the Sink hangs off ctxt->_private.
void ParserError(void* ctx, xmlErrorPtr err) {
  auto ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  if (ctxt != nullptr && ctxt->_private != nullptr) static_cast<Sink*>(ctxt->_private)->Add(err);
}

// volback documents never carry a DOCTYPE; refusing it at the declaration means no internal-subset
// entity is ever declared, let alone expanded.
void RefuseDoctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  auto sink = static_cast<Sink*>(ctxt->_private);
  Diagnostic d;
  d.line = ctxt->input != nullptr ? ctxt->input->line : 0;
  d.message = "DOCTYPE declarations are not allowed";
  d.kind = "parser";
  sink->Add(std::move(d));
  sink->doctypeRefused = true;
  xmlStopParser(ctxt);
}

/** A parser context set up for volback documents; reused for every document of one worker. */
class Parser {
 public:
  Parser() : ctxt_(xmlNewParserCtxt()) {
    if (ctxt_ == nullptr) return;
    ctxt_->sax->serror = ParserError;
    ctxt_->sax->internalSubset = RefuseDoctype;
  }
  ~Parser() {
    if (ctxt_ != nullptr) xmlFreeParserCtxt(ctxt_);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  /** Parses `xml` (UTF-8) or returns nullptr with the reasons in `sink`. The caller frees the doc. */
  xmlDocPtr Parse(const std::string& xml, const char* url, Sink& sink) {
    if (ctxt_ == nullptr) {
      sink.Add(Diagnostic{0, "", "out of memory creating the XML parser", "parser"});
      return nullptr;
    }
    ctxt_->_private = &sink;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt_, xml.data(), static_cast<int>(xml.size()), url, "UTF-8", kParseOptions);
    ctxt_->_private = nullptr;
    if (doc != nullptr && (sink.doctypeRefused || xmlDocGetRootElement(doc) == nullptr)) {
      xmlFreeDoc(doc);
      doc = nullptr;
    }
    if (doc == nullptr && sink.diagnostics.empty()) sink.Add(Diagnostic{0, "", "Document is empty", "parser"});
    return doc;
  }

 private:
  xmlParserCtxtPtr ctxt_;
};

Outcome ValidateOne(xmlRelaxNGPtr schema, Parser& parser, const std::string& xml, const char* url) {
  Outcome out;
  Sink sink;
  if (xml.size() > static_cast<size_t>(INT32_MAX)) {
    out.diagnostics.push_back(Diagnostic{0, "", "document is larger than 2 GiB", "parser"});
    return out;
  }
  xmlDocPtr doc = parser.Parse(xml, url, sink);
  if (doc != nullptr) {
    xmlRelaxNGValidCtxtPtr vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (vctxt == nullptr) {
      sink.Add(Diagnostic{0, "", "out of memory creating the RelaxNG validation context", "schema"});
    } else {
      xmlRelaxNGSetValidStructuredErrors(vctxt, SinkError, &sink);
      int rc = xmlRelaxNGValidateDoc(vctxt, doc);
      out.valid = rc == 0;
      if (rc < 0) sink.Add(Diagnostic{0, "", "libxml2 reported an internal error while validating", "schema"});
      if (rc > 0 && sink.diagnostics.empty()) sink.Add(Diagnostic{0, "", "document does not match its schema", "schema"});
      xmlRelaxNGFreeValidCtxt(vctxt);
    }
    xmlFreeDoc(doc);
  }
  out.diagnostics = std::move(sink.diagnostics);
  return out;
}

// ---- schema registry: compiled once, kept for the process, addressed by index ----

struct Schema {
  std::string path;
  xmlRelaxNGPtr rng;
};

std::mutex registryMutex;
std::mutex compileMutex;
std::vector<Schema> registry;  // never shrinks: schemas live as long as the process

xmlRelaxNGPtr LookupSchema(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "schema handle must be a number from compileSchema()");
  int64_t id = v.As<Napi::Number>().Int64Value();
  std::lock_guard<std::mutex> lock(registryMutex);
  if (id < 0 || static_cast<size_t>(id) >= registry.size())
    throw Napi::RangeError::New(v.Env(), "unknown schema handle " + std::to_string(id));
  return registry[static_cast<size_t>(id)].rng;
}

Napi::Object DiagnosticToJs(Napi::Env env, const Diagnostic& d) {
  Napi::Object o = Napi::Object::New(env);
  if (d.line > 0) o.Set("line", Napi::Number::New(env, d.line));
  if (!d.element.empty()) o.Set("element", Napi::String::New(env, d.element));
  o.Set("message", Napi::String::New(env, d.message));
  o.Set("kind", Napi::String::New(env, d.kind));
  return o;
}

Napi::Object OutcomeToJs(Napi::Env env, const Outcome& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("valid", Napi::Boolean::New(env, r.valid));
  Napi::Array list = Napi::Array::New(env, r.diagnostics.size());
  for (size_t i = 0; i < r.diagnostics.size(); i++) list.Set(static_cast<uint32_t>(i), DiagnosticToJs(env, r.diagnostics[i]));
  o.Set("diagnostics", list);
  return o;
}

/** compileSchema(path): parses a .rng file (includes resolve relative to it); resolves its handle. */
class CompileWorker : public Napi::AsyncWorker {
 public:
  CompileWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    // Compiles are rare; one at a time keeps libxml2's lazily built process-wide tables (datatype
    // libraries, catalogs) away from concurrent first use.
    std::lock_guard<std::mutex> lock(compileMutex);
    // xmlRelaxNGParse loads <include>d grammars with xmlReadFile, which reports through this
    // thread's structured handler (thread-local in a threaded libxml2), not the parser context's.
    xmlStructuredErrorFunc previous = xmlStructuredError;
    void* previousData = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&sink_, SinkError);
    xmlRelaxNGParserCtxtPtr pctxt = xmlRelaxNGNewParserCtxt(path_.c_str());
    if (pctxt != nullptr) {
      xmlRelaxNGSetParserStructuredErrors(pctxt, SinkError, &sink_);
      rng_ = xmlRelaxNGParse(pctxt);
      xmlRelaxNGFreeParserCtxt(pctxt);
    }
    xmlSetStructuredErrorFunc(previousData, previous);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (rng_ == nullptr) {
      std::string why;
      for (const auto& d : sink_.diagnostics) {
        why += why.empty() ? "" : " | ";
        if (d.line > 0) why += "line " + std::to_string(d.line) + ": ";
        why += d.message;
      }
      Napi::Error err = Napi::Error::New(env, "RelaxNG schema " + path_ + " failed to compile" + (why.empty() ? "" : ": " + why));
      deferred_.Reject(err.Value());
      return;
    }
    size_t id;
    {
      std::lock_guard<std::mutex> lock(registryMutex);
      registry.push_back(Schema{path_, rng_});
      id = registry.size() - 1;
    }
    deferred_.Resolve(Napi::Number::New(env, static_cast<double>(id)));
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  Sink sink_;
  xmlRelaxNGPtr rng_ = nullptr;
};

/** validate / validateMany: parse + validate documents on one pool thread, in order. */
class ValidateWorker : public Napi::AsyncWorker {
 public:
  ValidateWorker(Napi::Env env, xmlRelaxNGPtr schema, std::vector<std::string> docs, std::string url, bool single)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        schema_(schema),
        docs_(std::move(docs)),
        url_(std::move(url)),
        single_(single) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    Parser parser;
    results_.reserve(docs_.size());
    for (const auto& xml : docs_) results_.push_back(ValidateOne(schema_, parser, xml, url_.empty() ? nullptr : url_.c_str()));
    docs_.clear();
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (single_) {
      deferred_.Resolve(OutcomeToJs(env, results_.at(0)));
      return;
    }
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) out.Set(static_cast<uint32_t>(i), OutcomeToJs(env, results_[i]));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  xmlRelaxNGPtr schema_;
  std::vector<std::string> docs_;
  std::string url_;
  bool single_;
  std::vector<Outcome> results_;
};

Napi::Value CompileSchema(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "compileSchema(path: string)");
  auto* w = new CompileWorker(info.Env(), info[0].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Validate(const Napi::CallbackInfo& info) {
  xmlRelaxNGPtr schema = LookupSchema(info[0]);
  if (!info[1].IsString() || !info[2].IsString())
    throw Napi::TypeError::New(info.Env(), "validate(schema: number, xml: string, sourceName: string)");
  std::vector<std::string> docs;
  docs.push_back(info[1].As<Napi::String>().Utf8Value());
  auto* w = new ValidateWorker(info.Env(), schema, std::move(docs), info[2].As<Napi::String>().Utf8Value(), true);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value ValidateMany(const Napi::CallbackInfo& info) {
  xmlRelaxNGPtr schema = LookupSchema(info[0]);
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "validateMany(schema: number, docs: string[])");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<std::string> docs;
  docs.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), "validateMany: docs[" + std::to_string(i) + "] is not a string");
    docs.push_back(v.As<Napi::String>().Utf8Value());
  }
  auto* w = new ValidateWorker(info.Env(), schema, std::move(docs), "", false);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Idempotent; must happen on the main thread before any worker thread touches libxml2.
  xmlInitParser();
  // RelaxNG's datatype tables (XSD types) are built lazily and without a lock: build them here, on
  // the main thread, before any worker compiles or validates.
  if (xmlRelaxNGInitTypes() != 0) throw Napi::Error::New(env, "libxml2: xmlRelaxNGInitTypes failed");
  exports.Set("compileSchema", Napi::Function::New(env, CompileSchema, "compileSchema"));
  exports.Set("validate", Napi::Function::New(env, Validate, "validate"));
  exports.Set("validateMany", Napi::Function::New(env, ValidateMany, "validateMany"));
  exports.Set("libxmlVersion", Napi::String::New(env, xmlParserVersion));
  exports.Set("compiledAgainst", Napi::String::New(env, LIBXML_DOTTED_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(volback_relaxng, Init)
