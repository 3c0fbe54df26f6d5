// N-API entry point of the parm addon: converts and checks arguments, then calls the core in
// native/ (no arithmetic here). The TypeScript mirror of this surface is src/addon/binding.ts.
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
//       coefficients r x k row-major (null: r == 1, all ones); outs one per null in data, each
//       overlapping no input and no other output. Singular choices throw PARM_ERR_CODEC_SINGULAR.
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
//   The cuda* calls check their arguments like the host calls (synchronously: TypeError for a value
//   that is not a DeviceBuffer / Float32Array / array, RangeError for lengths and counts, a disposed
//   buffer is a TypeError, an output that is also an input or another output a RangeError), then
//   reject with PARM_ERR_CODEC_UNSUPPORTED (no CUDA build), _NO_DEVICE, _OUT_OF_MEMORY or _CUDA
//   (message "file:line: call: cudaErrorName: text"). Any call may reject / throw
//   PARM_ERR_CODEC_OUT_OF_MEMORY when host or device memory cannot be allocated.
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

// The sync and async forms of one call: parse info[] into Args once, then run Args() (the core
// call) on this thread or on the libuv pool with the JS arrays it uses kept alive until it settles.
template <class Args, Args (*Parse)(const Napi::CallbackInfo&)>
Napi::Value Sync(const Napi::CallbackInfo& info) {
  Args a = Parse(info);
  Check(info.Env(), a());
  return info.Env().Undefined();
}

template <class Args, Args (*Parse)(const Napi::CallbackInfo&)>
Napi::Value Async(const Napi::CallbackInfo& info) {
  Args a = Parse(info);
  std::vector<Napi::Object> keep = std::move(a.keep);
  return RunAsync(info.Env(), std::move(a), std::move(keep));
}

// encodeSum(inputs, weights, out, label?)
struct SumArgs {
  std::vector<const float*> in;
  Floats weights;
  std::size_t n = 0;
  float* out = nullptr;
  std::vector<Napi::Object> keep;

  parm::status operator()() const {
    return parm::encode_sum_f32(in.data(), weights.data(), in.size(), n, out);
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
      ThrowLength(env, label + "[" + std::to_string(i) + "]", in[i].length, a.n, " (the length of " + label + "[0])");
    if (Overlaps(out, in[i])) ThrowOverlap(env, "out", label + "[" + std::to_string(i) + "]");
    a.in.push_back(in[i].data);
    a.keep.push_back(in[i].object);
  }
  if (out.length != a.n) ThrowLength(env, "out", out.length, a.n);
  a.weights = AsWeights(info[1], k);
  a.out = out.data;
  a.keep.push_back(out.object);
  return a;
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

ConcatArgs ParseConcat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConcatArgs a;
  auto images = AsF32List(info[0], "images");
  const ImageArgs image = AsImage(info, 1, images.size());
  a.shape = image.shape;
  a.g = image.g;
  F32 out = AsF32(info[7], "out");
  const std::size_t n = a.shape.channels * a.shape.height * a.shape.width;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (images[i].length != n) ThrowImageLength(env, "images[" + std::to_string(i) + "]", images[i].length, n);
    if (Overlaps(out, images[i])) ThrowOverlap(env, "out", "images[" + std::to_string(i) + "]");
    a.images.push_back(images[i].data);
    a.keep.push_back(images[i].object);
  }
  if (out.length != n) ThrowLength(env, "out", out.length, n);
  a.out = out.data;
  a.keep.push_back(out.object);
  return a;
}

// decode(parity, data, coefficients, outs)
struct DecodeArgs {
  std::vector<const float*> parity, data;
  Floats coeff;
  std::vector<float*> outs;
  std::size_t n = 0;
  std::vector<Napi::Object> keep;
  parm::status operator()() const {
    return parm::decode_f32(parity.data(), parity.size(), data.data(), data.size(), coeff.data(), n,
                            outs.data(), outs.size());
  }
};

DecodeArgs ParseDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DecodeArgs a;
  auto parity = AsF32List(info[0], "parityOutputs");
  auto data = AsF32List(info[1], "dataOutputs", /*allow_null=*/true);
  a.n = parity[0].length;
  auto len_check = [&](const F32& f, const std::string& name) {
    if (f.length != a.n) ThrowLength(env, name, f.length, a.n, " (the length of parityOutputs[0])");
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
  a.coeff = AsCoefficients(info[2], r, k);
  if (!info[3].IsArray()) ThrowType(env, "outs must be an array of Float32Array (got " + Describe(info[3]) + ")");
  Napi::Array outs = info[3].As<Napi::Array>();
  CheckOutCount(env, outs.Length(), missing);
  for (uint32_t i = 0; i < outs.Length(); ++i) {
    const std::string name = "outs[" + std::to_string(i) + "]";
    F32 o = AsF32(outs.Get(i), name);
    len_check(o, name);
    // Every input and every earlier output: two outputs in one place would overwrite each other.
    for (auto& in : inputs)
      if (Overlaps(o, in.first)) ThrowOverlap(env, name, in.second);
    inputs.emplace_back(o, name);
    a.outs.push_back(o.data);
    a.keep.push_back(o.object);
  }
  return a;
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32 src = AsF32(info[0], "src"), dst = AsF32(info[1], "dst");
  if (dst.length != src.length) ThrowLength(env, "dst", dst.length, src.length);
  if (Overlaps(dst, src)) ThrowOverlap(env, "dst", "src");
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
  exports.Set("encodeSum", Napi::Function::New(env, Sync<SumArgs, ParseSum>, "encodeSum"));
  exports.Set("encodeSumAsync", Napi::Function::New(env, Async<SumArgs, ParseSum>, "encodeSumAsync"));
  exports.Set("encodeConcat", Napi::Function::New(env, Sync<ConcatArgs, ParseConcat>, "encodeConcat"));
  exports.Set("encodeConcatAsync", Napi::Function::New(env, Async<ConcatArgs, ParseConcat>, "encodeConcatAsync"));
  exports.Set("decode", Napi::Function::New(env, Sync<DecodeArgs, ParseDecode>, "decode"));
  exports.Set("decodeAsync", Napi::Function::New(env, Async<DecodeArgs, ParseDecode>, "decodeAsync"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite, "firstNonFinite"));
  InitDeviceBuffer(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(parm, InitModule)
