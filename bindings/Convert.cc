// See Convert.h.
#include "Convert.h"

#include <cmath>

namespace parm_bind {

std::string Describe(Napi::Value v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "Int8Array";
      case napi_uint8_array: return "Uint8Array";
      case napi_uint8_clamped_array: return "Uint8ClampedArray";
      case napi_int16_array: return "Int16Array";
      case napi_uint16_array: return "Uint16Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint32_array: return "Uint32Array";
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_bigint64_array: return "BigInt64Array";
      case napi_biguint64_array: return "BigUint64Array";
      default: return "TypedArray";
    }
  }
  if (v.IsArray()) return "Array";
  if (v.IsBuffer()) return "Buffer";
  if (v.IsArrayBuffer()) return "ArrayBuffer";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  if (v.IsFunction()) return "function";
  return "object";
}

F32 AsF32(Napi::Value v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowType(env, name + " must be a Float32Array (got " + Describe(v) + ")");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  Napi::Value ab = a.ArrayBuffer();
  if (ab.IsArrayBuffer() && ab.As<Napi::ArrayBuffer>().IsDetached())
    ThrowType(env, name + " is backed by a detached ArrayBuffer");
  F32 r;
  r.data = a.Data();
  r.length = a.ElementLength();
  r.object = a;
  return r;
}

std::vector<F32> AsF32List(Napi::Value v, const std::string& label, bool allow_null) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) ThrowType(env, label + " must be an array of Float32Array (got " + Describe(v) + ")");
  Napi::Array arr = v.As<Napi::Array>();
  const uint32_t k = arr.Length();
  if (k == 0) ThrowRange(env, label + " must hold at least one array (k = 0)");
  std::vector<F32> out(k);
  for (uint32_t i = 0; i < k; ++i) {
    Napi::Value e = arr.Get(i);
    const std::string name = label + "[" + std::to_string(i) + "]";
    if (allow_null && e.IsNull()) continue;
    out[i] = AsF32(e, name);
  }
  return out;
}

std::size_t AsSize(Napi::Value v, const std::string& name, std::size_t min, std::size_t max) {
  Napi::Env env = v.Env();
  if (!v.IsNumber()) ThrowType(env, name + " must be an integer (got " + Describe(v) + ")");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d)
    ThrowRange(env, name + " must be an integer (got " + std::to_string(d) + ")");
  if (d < static_cast<double>(min) || d > static_cast<double>(max))
    ThrowRange(env, name + " must be between " + std::to_string(min) + " and " + std::to_string(max) +
                        " (got " + std::to_string(static_cast<long long>(d)) + ")");
  return static_cast<std::size_t>(d);
}

parm::layout AsLayout(Napi::Value v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "nchw") return parm::layout::nchw;
  if (s == "nhwc") return parm::layout::nhwc;
  ThrowType(v.Env(), "layout must be 'nchw' or 'nhwc' (got " + (v.IsString() ? "'" + s + "'" : Describe(v)) + ")");
}

ImageArgs AsImage(const Napi::CallbackInfo& info, std::size_t at, std::size_t k) {
  Napi::Env env = info.Env();
  constexpr std::size_t kMaxDim = std::size_t{1} << 20;
  ImageArgs a;
  a.shape.channels = AsSize(info[at], "shape.channels", 1, kMaxDim);
  a.shape.height = AsSize(info[at + 1], "shape.height", 1, kMaxDim);
  a.shape.width = AsSize(info[at + 2], "shape.width", 1, kMaxDim);
  a.shape.order = AsLayout(info[at + 3]);
  parm::grid& g = a.g;
  g.rows = AsSize(info[at + 4], "grid[0] (rows)", 0, a.shape.height);
  g.cols = AsSize(info[at + 5], "grid[1] (cols)", 0, a.shape.width);
  if ((g.rows == 0) != (g.cols == 0)) ThrowRange(env, "grid rows and cols must both be given");
  if (g.rows == 0) g = parm::default_grid(k);
  const std::string grid = "grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols);
  if (g.rows * g.cols < k)
    ThrowRange(env, grid + " has " + std::to_string(g.rows * g.cols) + " tiles, fewer than k = " + std::to_string(k));
  if (g.rows > a.shape.height || g.cols > a.shape.width)
    ThrowRange(env, grid + " is finer than the image " + std::to_string(a.shape.height) + "x" +
                        std::to_string(a.shape.width));
  return a;
}

Floats AsWeights(Napi::Value v, std::size_t k) {
  Floats w;
  if (v.IsNull() || v.IsUndefined()) return w;
  F32 f = AsF32(v, "weights");
  if (f.length != k)
    ThrowRange(v.Env(), "weights has length " + std::to_string(f.length) + ", expected k = " + std::to_string(k));
  w.values.assign(f.data, f.data + k);
  w.given = true;
  return w;
}

Floats AsCoefficients(Napi::Value v, std::size_t r, std::size_t k) {
  Floats c;
  if (v.IsNull() || v.IsUndefined()) {
    if (r != 1) ThrowRange(v.Env(), "coefficients are required when parityOutputs holds " + std::to_string(r) + " arrays");
    return c;
  }
  F32 f = AsF32(v, "coefficients");
  if (f.length != r * k)
    ThrowRange(v.Env(), "coefficients has " + std::to_string(f.length) + " entries, expected r x k = " +
                            std::to_string(r) + " x " + std::to_string(k));
  c.values.assign(f.data, f.data + f.length);
  c.given = true;
  return c;
}

void ThrowLength(Napi::Env env, const std::string& name, std::size_t actual, std::size_t expected,
                 const std::string& context) {
  ThrowRange(env, name + " has length " + std::to_string(actual) + ", expected " + std::to_string(expected) + context);
}

void ThrowImageLength(Napi::Env env, const std::string& name, std::size_t actual, std::size_t n) {
  ThrowRange(env, name + " has length " + std::to_string(actual) + ", expected channels*height*width = " +
                      std::to_string(n));
}

void CheckOutCount(Napi::Env env, std::size_t outs, std::size_t missing) {
  if (outs != missing)
    ThrowRange(env, "outs holds " + std::to_string(outs) + " arrays, expected " + std::to_string(missing) +
                        " (one per missing data output)");
}

bool Overlaps(const F32& a, const F32& b) {
  if (!a.data || !b.data || a.length == 0 || b.length == 0) return false;
  const char* pa = reinterpret_cast<const char*>(a.data);
  const char* pb = reinterpret_cast<const char*>(b.data);
  return pa < pb + b.length * sizeof(float) && pb < pa + a.length * sizeof(float);
}

void ThrowOverlap(Napi::Env env, const std::string& out_name, const std::string& in_name) {
  ThrowRange(env, out_name + " overlaps " + in_name + " in memory; use a separate output array");
}

}  // namespace parm_bind
