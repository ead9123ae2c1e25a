#include "core/shape.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

namespace pbmem {

bool checked_mul(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool checked_add(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

bool Shape::fully_defined() const {
  if (!known_rank_) return false;
  for (int64_t d : dims_) {
    if (d < 0) return false;
  }
  return true;
}

Result<int64_t> Shape::num_elements() const {
  if (!known_rank_) return invalid_argument("shape has unknown rank");
  int64_t n = 1;
  for (int64_t d : dims_) {
    if (d < 0) return invalid_argument("shape ", str(), " has an unknown or negative dimension");
    if (!checked_mul(n, d, &n)) {
      return out_of_range("shape ", str(), " has more elements than fit in int64");
    }
  }
  return n;
}

Result<int64_t> Shape::num_bytes(DType dtype) const {
  PBMEM_ASSIGN_OR_RETURN(int64_t n, num_elements());
  int64_t bytes = 0;
  if (!checked_mul(n, static_cast<int64_t>(dtype_size(dtype)), &bytes)) {
    return out_of_range("shape ", str(), " of ", dtype_name(dtype), " overflows int64 bytes");
  }
  return bytes;
}

int64_t Shape::num_elements_unchecked() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

std::string Shape::str() const {
  if (!known_rank_) return "<unknown rank>";
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i] < 0 ? std::string("?") : std::to_string(dims_[i]);
  }
  return s + "]";
}

Result<Shape> parse_shape(const std::string& text) {
  if (text.empty() || text == "scalar") return Shape();
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    if (item == "?" || item == "-1") {
      dims.push_back(kUnknownDim);
    } else {
      if (item.empty()) return invalid_argument("shape '", text, "' has an empty dimension");
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(item.c_str(), &end, 10);
      if (errno == ERANGE || *end != '\0' || v < 0) {
        return invalid_argument("shape '", text, "': dimension '", item,
                                "' is not a non-negative integer that fits in int64");
      }
      dims.push_back(static_cast<int64_t>(v));
    }
    pos = comma + 1;
  }
  return Shape(std::move(dims));
}

}  // namespace pbmem
