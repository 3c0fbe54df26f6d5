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

void CheckNoOverlap(Napi::Env env, const F32& out, const std::string& out_name, const F32& in,
                    const std::string& in_name) {
  if (!out.data || !in.data || out.length == 0 || in.length == 0) return;
  const char* a = reinterpret_cast<const char*>(out.data);
  const char* b = reinterpret_cast<const char*>(in.data);
  if (a < b + in.length * sizeof(float) && b < a + out.length * sizeof(float))
    ThrowRange(env, out_name + " overlaps " + in_name + " in memory; use a separate output array");
}

}  // namespace parm_bind
