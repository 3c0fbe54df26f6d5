// N-API entry point of the parm addon: converts and checks arguments, then calls the core in
// native/ (no arithmetic here). The TypeScript mirror of this surface is src/native/binding.ts.
//
// Exports (F32 = Float32Array; every size check throws RangeError naming the argument, every
// type check TypeError, both with code PARM_ERR_CODEC_ARGUMENT; core failures throw/reject
// with the registered ParmError(code, message)):
//   init({ ParmError }): void                        sync. Registers the error class.
//   version: string
//   capabilities(): { isa, isaAvailable, threads, cuda: { compiled, available, devices, reason,
//                     deviceName } }                 sync.
//   setIsa(name: 'ref'|'avx2'|'avx512'|'auto'): string   sync; returns the active ISA. Throws
//                                                    PARM_ERR_CODEC_UNSUPPORTED if unavailable.
//   setThreads(n: number): void                      sync; 1..1024 threads (caller included).
//   encodeSum(inputs: F32[], weights: F32|null, out: F32, label?: string): void        sync
//   encodeSumAsync(inputs, weights, out, label?): Promise<void>                        async
//       k = inputs.length >= 1, all lengths equal out.length, weights.length == k, out must not
//       overlap an input. label names `inputs` in messages (default "inputs").
//   encodeConcat(images: F32[], channels, height, width, layout: 'nchw'|'nhwc', rows, cols,
//                out: F32): void                     sync; rows = cols = 0 picks the default grid
//   encodeConcatAsync(same): Promise<void>           async
//   decode(parity: F32[], data: (F32|null)[], coefficients: F32|null, outs: F32[]): void  sync
//   decodeAsync(same): Promise<void>                 async
//       coefficients r x k row-major (null: r == 1, all ones); outs one per null in data.
//       Singular choices throw PARM_ERR_CODEC_SINGULAR.
//   copy(src: F32, dst: F32): void                   sync; the benchmark's bandwidth yardstick
//   firstNonFinite(x: F32): number                   sync; index of the first NaN/+-Inf, or -1
//       (input validation; a wrong dtype or a detached buffer is a TypeError)
//   class DeviceBuffer(length: number)               throws PARM_ERR_CODEC_UNSUPPORTED without
//       .length, .disposed, upload(src: F32, offset?): void, download(dst: F32, offset?): void,
//       dispose(): void (idempotent; the finalizer frees it too; throws if an op is pending)
//   cudaEncodeSum(inputs: DeviceBuffer[], weights: F32|null, out: DeviceBuffer): Promise<void>
//   cudaEncodeConcat(images: DeviceBuffer[], channels, height, width, layout, rows, cols,
//                    out: DeviceBuffer): Promise<void>
//   cudaDecode(parity: DeviceBuffer[], data: (DeviceBuffer|null)[], coefficients: F32|null,
//              outs: DeviceBuffer[]): Promise<void>
//   cudaCopy(src: DeviceBuffer, dst: DeviceBuffer): Promise<void>   device-to-device copy
//   All cuda* calls reject with PARM_ERR_CODEC_UNSUPPORTED (no CUDA build), _NO_DEVICE or _CUDA
//   (message "file:line: call: cudaErrorName: text"); a disposed buffer is a TypeError.
#include <napi.h>

#include <string>
#include <vector>

#include "AsyncJob.h"
#include "Convert.h"
#include "DeviceBuffer.h"
#include "Errors.h"
#include "parm/codec.h"
#include "parm/cuda.h"

using namespace parm_bind;

namespace {

std::string Label(const Napi::CallbackInfo& info, std::size_t i, const char* fallback) {
  return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value()
                                                 : std::string(fallback);
}

// encodeSum(inputs, weights, out, label?)
struct SumArgs {
  std::vector<const float*> in;
  std::vector<float> weights;
  bool has_weights = false;
  std::size_t n = 0;
  float* out = nullptr;
  std::vector<Napi::Object> keep;

  parm::status operator()() const {
    return parm::encode_sum_f32(in.data(), has_weights ? weights.data() : nullptr, in.size(), n, out);
  }
};

SumArgs ParseSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string label = Label(info, 3, "inputs");
  SumArgs a;
  auto in = AsF32List(info[0], label);
  const std::size_t k = in.size();
  F32 out = AsF32(info[2], "out");
  a.n = in[0].length;
  for (std::size_t i = 0; i < k; ++i) {
    if (in[i].length != a.n)
      ThrowRange(env, label + "[" + std::to_string(i) + "] has length " + std::to_string(in[i].length) +
                          ", expected " + std::to_string(a.n) + " (the length of " + label + "[0])");
    CheckNoOverlap(env, out, "out", in[i], label + "[" + std::to_string(i) + "]");
    a.in.push_back(in[i].data);
    a.keep.push_back(in[i].object);
  }
  if (out.length != a.n)
    ThrowRange(env, "out has length " + std::to_string(out.length) + ", expected " + std::to_string(a.n));
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    F32 w = AsF32(info[1], "weights");
    if (w.length != k)
      ThrowRange(env, "weights has length " + std::to_string(w.length) + ", expected k = " + std::to_string(k));
    a.weights.assign(w.data, w.data + k);
    a.has_weights = true;
  }
  a.out = out.data;
  a.keep.push_back(out.object);
  return a;
}

Napi::Value EncodeSum(const Napi::CallbackInfo& info) {
  SumArgs a = ParseSum(info);
  Check(info.Env(), a());
  return info.Env().Undefined();
}

Napi::Value EncodeSumAsync(const Napi::CallbackInfo& info) {
  SumArgs a = ParseSum(info);
  std::vector<Napi::Object> keep = std::move(a.keep);
  return RunAsync(info.Env(), std::move(a), std::move(keep));
}

parm::layout AsLayout(Napi::Value v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "nchw") return parm::layout::nchw;
  if (s == "nhwc") return parm::layout::nhwc;
  ThrowType(v.Env(), "layout must be 'nchw' or 'nhwc' (got " + (v.IsString() ? "'" + s + "'" : Describe(v)) + ")");
}

// encodeConcat(images, channels, height, width, layout, rows, cols, out)
struct ConcatArgs {
  std::vector<const float*> images;
  parm::image_shape shape;
  parm::grid g;
  float* out = nullptr;
  std::vector<Napi::Object> keep;
  parm::status operator()() const {
    return parm::encode_concat_f32(images.data(), images.size(), shape, g, out);
  }
};

void ParseShape(const Napi::CallbackInfo& info, std::size_t at, std::size_t k, parm::image_shape* shape,
                parm::grid* g) {
  Napi::Env env = info.Env();
  constexpr std::size_t kMaxDim = std::size_t{1} << 20;
  shape->channels = AsSize(info[at], "shape.channels", 1, kMaxDim);
  shape->height = AsSize(info[at + 1], "shape.height", 1, kMaxDim);
  shape->width = AsSize(info[at + 2], "shape.width", 1, kMaxDim);
  shape->order = AsLayout(info[at + 3]);
  g->rows = AsSize(info[at + 4], "grid[0] (rows)", 0, shape->height);
  g->cols = AsSize(info[at + 5], "grid[1] (cols)", 0, shape->width);
  if ((g->rows == 0) != (g->cols == 0)) ThrowRange(env, "grid rows and cols must both be given");
  if (g->rows == 0) *g = parm::default_grid(k);
  if (g->rows * g->cols < k)
    ThrowRange(env, "grid " + std::to_string(g->rows) + "x" + std::to_string(g->cols) + " has " +
                        std::to_string(g->rows * g->cols) + " tiles, fewer than k = " + std::to_string(k));
  if (g->rows > shape->height || g->cols > shape->width)
    ThrowRange(env, "grid " + std::to_string(g->rows) + "x" + std::to_string(g->cols) +
                        " is finer than the image " + std::to_string(shape->height) + "x" +
                        std::to_string(shape->width));
}

ConcatArgs ParseConcat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConcatArgs a;
  auto images = AsF32List(info[0], "images");
  ParseShape(info, 1, images.size(), &a.shape, &a.g);
  F32 out = AsF32(info[7], "out");
  const std::size_t n = a.shape.channels * a.shape.height * a.shape.width;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (images[i].length != n)
      ThrowRange(env, "images[" + std::to_string(i) + "] has length " + std::to_string(images[i].length) +
                          ", expected channels*height*width = " + std::to_string(n));
    CheckNoOverlap(env, out, "out", images[i], "images[" + std::to_string(i) + "]");
    a.images.push_back(images[i].data);
    a.keep.push_back(images[i].object);
  }
  if (out.length != n)
    ThrowRange(env, "out has length " + std::to_string(out.length) + ", expected " + std::to_string(n));
  a.out = out.data;
  a.keep.push_back(out.object);
  return a;
}

Napi::Value EncodeConcat(const Napi::CallbackInfo& info) {
  ConcatArgs a = ParseConcat(info);
  Check(info.Env(), a());
  return info.Env().Undefined();
}

Napi::Value EncodeConcatAsync(const Napi::CallbackInfo& info) {
  ConcatArgs a = ParseConcat(info);
  std::vector<Napi::Object> keep = std::move(a.keep);
  return RunAsync(info.Env(), std::move(a), std::move(keep));
}

// decode(parity, data, coefficients, outs)
struct DecodeArgs {
  std::vector<const float*> parity, data;
  std::vector<float> coeff;
  bool has_coeff = false;
  std::vector<float*> outs;
  std::size_t n = 0;
  std::vector<Napi::Object> keep;
  parm::status operator()() const {
    return parm::decode_f32(parity.data(), parity.size(), data.data(), data.size(),
                            has_coeff ? coeff.data() : nullptr, n, outs.data(), outs.size());
  }
};

DecodeArgs ParseDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DecodeArgs a;
  auto parity = AsF32List(info[0], "parityOutputs");
  auto data = AsF32List(info[1], "dataOutputs", /*allow_null=*/true);
  a.n = parity[0].length;
  auto len_check = [&](const F32& f, const std::string& name) {
    if (f.length != a.n)
      ThrowRange(env, name + " has length " + std::to_string(f.length) + ", expected " +
                          std::to_string(a.n) + " (the length of parityOutputs[0])");
  };
  std::vector<std::pair<F32, std::string>> inputs;
  for (std::size_t i = 0; i < parity.size(); ++i) {
    const std::string name = "parityOutputs[" + std::to_string(i) + "]";
    len_check(parity[i], name);
    a.parity.push_back(parity[i].data);
    a.keep.push_back(parity[i].object);
    inputs.emplace_back(parity[i], name);
  }
  std::size_t missing = 0;
  for (std::size_t j = 0; j < data.size(); ++j) {
    if (!data[j].data && data[j].object.IsEmpty()) {
      a.data.push_back(nullptr);
      ++missing;
      continue;
    }
    const std::string name = "dataOutputs[" + std::to_string(j) + "]";
    len_check(data[j], name);
    a.data.push_back(data[j].data ? data[j].data : parity[0].data);  // zero-length: any non-null
    a.keep.push_back(data[j].object);
    inputs.emplace_back(data[j], name);
  }
  const std::size_t r = parity.size(), k = data.size();
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    F32 c = AsF32(info[2], "coefficients");
    if (c.length != r * k)
      ThrowRange(env, "coefficients has " + std::to_string(c.length) + " entries, expected r x k = " +
                          std::to_string(r) + " x " + std::to_string(k));
    a.coeff.assign(c.data, c.data + c.length);
    a.has_coeff = true;
  } else if (r != 1) {
    ThrowRange(env, "coefficients are required when parityOutputs holds " + std::to_string(r) + " arrays");
  }
  if (!info[3].IsArray()) ThrowType(env, "outs must be an array of Float32Array (got " + Describe(info[3]) + ")");
  Napi::Array outs = info[3].As<Napi::Array>();
  if (outs.Length() != missing)
    ThrowRange(env, "outs holds " + std::to_string(outs.Length()) + " arrays, expected " +
                        std::to_string(missing) + " (one per missing data output)");
  for (uint32_t i = 0; i < outs.Length(); ++i) {
    const std::string name = "outs[" + std::to_string(i) + "]";
    F32 o = AsF32(outs.Get(i), name);
    len_check(o, name);
    for (auto& in : inputs) CheckNoOverlap(env, o, name, in.first, in.second);
    a.outs.push_back(o.data);
    a.keep.push_back(o.object);
  }
  return a;
}

Napi::Value Decode(const Napi::CallbackInfo& info) {
  DecodeArgs a = ParseDecode(info);
  Check(info.Env(), a());
  return info.Env().Undefined();
}

Napi::Value DecodeAsync(const Napi::CallbackInfo& info) {
  DecodeArgs a = ParseDecode(info);
  std::vector<Napi::Object> keep = std::move(a.keep);
  return RunAsync(info.Env(), std::move(a), std::move(keep));
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32 src = AsF32(info[0], "src"), dst = AsF32(info[1], "dst");
  if (dst.length != src.length)
    ThrowRange(env, "dst has length " + std::to_string(dst.length) + ", expected " + std::to_string(src.length));
  CheckNoOverlap(env, dst, "dst", src, "src");
  Check(env, parm::copy_f32(src.data, src.length, dst.data));
  return env.Undefined();
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32 x = AsF32(info[0], "x");
  std::ptrdiff_t index = -1;
  Check(env, parm::first_non_finite_f32(x.data, x.length, &index));
  return Napi::Number::New(env, static_cast<double>(index));
}

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", parm::isa_name(parm::active_isa()));
  Napi::Array avail = Napi::Array::New(env);
  uint32_t n = 0;
  for (parm::isa i : {parm::isa::ref, parm::isa::avx2, parm::isa::avx512})
    if (parm::isa_supported(i)) avail.Set(n++, parm::isa_name(i));
  o.Set("isaAvailable", avail);
  o.Set("threads", Napi::Number::New(env, parm::threads()));
  const parm::cuda::info ci = parm::cuda::query();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", ci.compiled);
  c.Set("available", ci.available);
  c.Set("devices", Napi::Number::New(env, ci.devices));
  c.Set("reason", ci.reason);
  c.Set("deviceName", ci.device_name);
  o.Set("cuda", c);
  return o;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowType(env, "isa must be a string (got " + Describe(info[0]) + ")");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  parm::isa i;
  if (name == "auto") {
    i = parm::best_isa();
  } else if (!parm::parse_isa(name.c_str(), &i)) {
    ThrowRange(env, "isa must be one of 'auto', 'ref', 'avx2', 'avx512' (got '" + name + "')");
  }
  Check(env, parm::set_isa(i));
  return Napi::String::New(env, parm::isa_name(parm::active_isa()));
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  parm::set_threads(static_cast<unsigned>(AsSize(info[0], "threads", 1, 1024)));
  return info.Env().Undefined();
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowType(env, "init expects { ParmError } (got " + Describe(info[0]) + ")");
  Napi::Value ctor = info[0].As<Napi::Object>().Get("ParmError");
  if (!ctor.IsFunction()) ThrowType(env, "init: ParmError must be a class (got " + Describe(ctor) + ")");
  SetErrorClass(env, ctor.As<Napi::Function>());
  return env.Undefined();
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("encodeSum", Napi::Function::New(env, EncodeSum, "encodeSum"));
  exports.Set("encodeSumAsync", Napi::Function::New(env, EncodeSumAsync, "encodeSumAsync"));
  exports.Set("encodeConcat", Napi::Function::New(env, EncodeConcat, "encodeConcat"));
  exports.Set("encodeConcatAsync", Napi::Function::New(env, EncodeConcatAsync, "encodeConcatAsync"));
  exports.Set("decode", Napi::Function::New(env, Decode, "decode"));
  exports.Set("decodeAsync", Napi::Function::New(env, DecodeAsync, "decodeAsync"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite, "firstNonFinite"));
  InitDeviceBuffer(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(parm, InitModule)
