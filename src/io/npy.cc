// .npy reader and writer (NumPy's format, NEP 1). The header is a Python dict literal; we parse
// exactly the subset NumPy writes (string, bool and int-tuple values) and reject everything else
// with a message that names the file, so a bad input file never reaches the runtime.
#include "io/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

namespace pbmem {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kVersionBytes = 2;
constexpr size_t kHeaderLenBytesV1 = 2;  // version 1.0: little-endian uint16
constexpr size_t kHeaderLenBytesV2 = 4;  // versions 2.0 and 3.0: little-endian uint32
constexpr size_t kMaxPreambleBytes = kMagicBytes + kVersionBytes + kHeaderLenBytesV2;
constexpr uint32_t kMaxHeaderLenV1 = 0xFFFF;
constexpr size_t kHeaderAlignment = 64;  // NumPy pads the header so the data is 64-byte aligned
constexpr int kMaxRank = 64;             // NumPy 2's NPY_MAXDIMS
constexpr int kMaxNesting = 16;          // nested (), [] or {} in the header dict
constexpr size_t kReadChunkBytes = size_t{1} << 26;

// ---- dtypes ----

struct NpyDType {
  const char* code;  // descr without the byte-order character: "f4"
  DType dtype;
};

// What we read and write. Everything else (complex, strings, objects, datetimes) is refused.
constexpr NpyDType kNpyDTypes[] = {
    {"f4", DType::kFloat},  {"f8", DType::kDouble}, {"f2", DType::kHalf},   {"i4", DType::kInt32},
    {"i8", DType::kInt64},  {"i2", DType::kInt16},  {"i1", DType::kInt8},   {"u1", DType::kUInt8},
    {"u2", DType::kUInt16}, {"u4", DType::kUInt32}, {"u8", DType::kUInt64}, {"b1", DType::kBool},
};

const char* npy_code(DType dtype) {
  for (const NpyDType& d : kNpyDTypes) {
    if (d.dtype == dtype) return d.code;
  }
  return nullptr;
}

std::string supported_descrs() {
  std::string out;
  for (const NpyDType& d : kNpyDTypes) {
    if (!out.empty()) out += ", ";
    out += (d.code[1] == '1' ? "|" : "<");
    out += d.code;
  }
  return out;
}

// NumPy's names in messages about .npy files: "float32", not TF's "float".
const char* numpy_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
      return "float32";
    case DType::kDouble:
      return "float64";
    case DType::kHalf:
      return "float16";
    default:
      return dtype_name(dtype);
  }
}

std::string shape_tuple(const Shape& shape) {
  std::string s = "(";
  for (int i = 0; i < shape.rank(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape.dim(i));
  }
  if (shape.rank() == 1) s += ",";
  return s + ")";
}

// "file 'x.npy': " — the prefix of every error.
std::string where(const std::string& name) { return str_cat("file '", name, "'"); }

Result<DType> dtype_from_descr(const std::string& descr, const std::string& name) {
  if (descr.size() < 2) {
    return invalid_argument(where(name), ": dtype descr '", descr, "' is not a NumPy type string");
  }
  char order = descr[0];
  std::string code = descr.substr(1);
  char kind = code[0];
  if (kind == 'O') {
    return unimplemented(where(name), " holds an object array (dtype '", descr,
                         "'): pickled Python objects cannot be read; save a numeric array");
  }
  if (kind == 'U' || kind == 'S' || kind == 'a') {
    return unimplemented(where(name), " holds a string array (dtype '", descr,
                         "'), which pbmem does not support");
  }
  if (kind == 'V') {
    return unimplemented(where(name), " holds a void/structured array (dtype '", descr,
                         "'), which pbmem does not support");
  }
  const NpyDType* found = nullptr;
  for (const NpyDType& d : kNpyDTypes) {
    if (code == d.code) found = &d;
  }
  if (found == nullptr || (order != '<' && order != '>' && order != '=' && order != '|')) {
    return unimplemented(where(name), " has dtype '", descr, "', which pbmem does not support (",
                         "supported: ", supported_descrs(), ")");
  }
  bool single_byte = dtype_size(found->dtype) == 1;
  if (order == '>' && !single_byte) {
    return unimplemented(where(name), " is big endian (dtype '", descr,
                         "'); convert it with arr.astype(arr.dtype.newbyteorder('<'))");
  }
  if (order == '|' && !single_byte) {
    return invalid_argument(where(name), ": dtype '", descr,
                            "' is invalid: byte order '|' applies only to 1-byte types");
  }
  return found->dtype;
}

// ---- header dict ----

// A parsed Python literal: a string, a bool, an int, or a tuple/list of literals.
struct PyValue {
  enum class Kind { kString, kBool, kInt, kTuple, kList, kDict };
  Kind kind = Kind::kString;
  std::string text;
  bool boolean = false;
  int64_t integer = 0;
  std::vector<PyValue> items;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  // Parses the whole header: one dict, then only whitespace.
  Status parse(std::vector<std::pair<std::string, PyValue>>* entries) {
    skip_space();
    if (!consume('{')) return error("expected '{' at the start of the header dict");
    while (true) {
      skip_space();
      if (consume('}')) break;
      PyValue key;
      PBMEM_RETURN_IF_ERROR(parse_value(&key, 1));
      if (key.kind != PyValue::Kind::kString) return error("dict keys must be strings");
      skip_space();
      if (!consume(':')) return error("expected ':' after key '", key.text, "'");
      PyValue value;
      PBMEM_RETURN_IF_ERROR(parse_value(&value, 1));
      for (const auto& entry : *entries) {
        if (entry.first == key.text) return error("key '", key.text, "' appears twice");
      }
      entries->emplace_back(key.text, std::move(value));
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume('}')) break;
      return error("expected ',' or '}' after the value of '", key.text, "'");
    }
    skip_space();
    if (pos_ != text_.size()) return error("unexpected text after the header dict");
    return ok_status();
  }

 private:
  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument(where(name_), " has a malformed .npy header at character ", pos_, ": ",
                            args...);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool starts_with(std::string_view word) const { return text_.substr(pos_, word.size()) == word; }

  Status parse_value(PyValue* out, int depth) {
    if (depth > kMaxNesting) return error("values nested deeper than ", kMaxNesting);
    skip_space();
    if (pos_ >= text_.size()) return error("unexpected end of header");
    char c = text_[pos_];
    if (c == '\'' || c == '"') return parse_string(out);
    if (c >= '0' && c <= '9') return parse_int(out);
    if (c == '(' || c == '[' || c == '{') return parse_sequence(out, depth);
    if (starts_with("True")) {
      pos_ += 4;
      out->kind = PyValue::Kind::kBool;
      out->boolean = true;
      return ok_status();
    }
    if (starts_with("False")) {
      pos_ += 5;
      out->kind = PyValue::Kind::kBool;
      out->boolean = false;
      return ok_status();
    }
    return error("unexpected character '", c, "'");
  }

  Status parse_string(PyValue* out) {
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return error("unterminated string");
    std::string_view body = text_.substr(pos_, end - pos_);
    if (body.find('\\') != std::string_view::npos)
      return error("escapes in strings are not supported");
    out->kind = PyValue::Kind::kString;
    out->text = std::string(body);
    pos_ = end + 1;
    return ok_status();
  }

  Status parse_int(PyValue* out) {
    int64_t value = 0;
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      int64_t digit = text_[pos_] - '0';
      if (!checked_mul(value, 10, &value) || !checked_add(value, digit, &value)) {
        return error("integer '", text_.substr(start, pos_ - start + 1), "...' overflows int64");
      }
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 long suffix
    out->kind = PyValue::Kind::kInt;
    out->integer = value;
    return ok_status();
  }

  Status parse_sequence(PyValue* out, int depth) {
    char open = text_[pos_++];
    char close = open == '(' ? ')' : open == '[' ? ']' : '}';
    out->kind = open == '('   ? PyValue::Kind::kTuple
                : open == '[' ? PyValue::Kind::kList
                              : PyValue::Kind::kDict;
    bool saw_comma = false;
    while (true) {
      skip_space();
      if (consume(close)) break;
      PyValue item;
      PBMEM_RETURN_IF_ERROR(parse_value(&item, depth + 1));
      if (out->kind == PyValue::Kind::kDict) {
        skip_space();
        if (!consume(':')) return error("expected ':' in a nested dict");
        PyValue value;
        PBMEM_RETURN_IF_ERROR(parse_value(&value, depth + 1));
      }
      out->items.push_back(std::move(item));
      skip_space();
      if (consume(',')) {
        saw_comma = true;
        continue;
      }
      skip_space();
      if (consume(close)) break;
      return error("expected ',' or '", close, "'");
    }
    // "(3)" is the int 3 in Python, not a tuple.
    if (out->kind == PyValue::Kind::kTuple && out->items.size() == 1 && !saw_comma) {
      PyValue inner = std::move(out->items[0]);
      *out = std::move(inner);
    }
    return ok_status();
  }

  std::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
};

struct NpyHeader {
  DType dtype = DType::kInvalid;
  Shape shape;
  int64_t body_bytes = 0;
};

Status header_from_dict(const std::vector<std::pair<std::string, PyValue>>& entries,
                        const std::string& name, NpyHeader* header) {
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (const auto& [key, value] : entries) {
    if (key == "descr") {
      descr = &value;
    } else if (key == "fortran_order") {
      fortran = &value;
    } else if (key == "shape") {
      shape = &value;
    } else {
      return invalid_argument(where(name), ": unexpected key '", key,
                              "' in the .npy header (expected descr, fortran_order, shape)");
    }
  }
  if (descr == nullptr || fortran == nullptr || shape == nullptr) {
    return invalid_argument(where(name), ": the .npy header lacks '",
                            descr == nullptr     ? "descr"
                            : fortran == nullptr ? "fortran_order"
                                                 : "shape",
                            "'");
  }
  if (descr->kind == PyValue::Kind::kList || descr->kind == PyValue::Kind::kTuple) {
    return unimplemented(where(name), " holds a structured array (record dtype), which pbmem ",
                         "does not support");
  }
  if (descr->kind != PyValue::Kind::kString) {
    return invalid_argument(where(name), ": 'descr' in the .npy header must be a string");
  }
  if (fortran->kind != PyValue::Kind::kBool) {
    return invalid_argument(where(name),
                            ": 'fortran_order' in the .npy header must be True or False");
  }
  if (shape->kind != PyValue::Kind::kTuple) {
    return invalid_argument(where(name), ": 'shape' in the .npy header must be a tuple of ints");
  }
  PBMEM_ASSIGN_OR_RETURN(header->dtype, dtype_from_descr(descr->text, name));
  if (static_cast<int>(shape->items.size()) > kMaxRank) {
    return invalid_argument(where(name), ": shape has rank ", shape->items.size(),
                            ", more than the maximum ", kMaxRank);
  }
  std::vector<int64_t> dims;
  for (const PyValue& item : shape->items) {
    if (item.kind != PyValue::Kind::kInt) {
      return invalid_argument(where(name), ": 'shape' in the .npy header must be a tuple of ints");
    }
    dims.push_back(item.integer);
  }
  header->shape = Shape(std::move(dims));
  if (fortran->boolean) {
    // With at most one dim > 1 the bytes are the same in either order.
    int non_unit = 0;
    for (int64_t d : header->shape.dims()) non_unit += d != 1;
    if (non_unit > 1) {
      return unimplemented(where(name), " is in Fortran order (shape ", shape_tuple(header->shape),
                           "); save it with np.save(path, np.ascontiguousarray(arr))");
    }
  }
  Result<int64_t> bytes = header->shape.num_bytes(header->dtype);
  if (!bytes.ok()) {
    return out_of_range(where(name), ": shape ", shape_tuple(header->shape), " of ",
                        numpy_name(header->dtype), " is too large: ", bytes.status().message());
  }
  header->body_bytes = *bytes;
  return ok_status();
}

uint32_t read_le(const uint8_t* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

// Validates magic and version; returns the size of the preamble and sets *header_len.
Result<size_t> parse_preamble(std::string_view bytes, const std::string& name,
                              uint32_t* header_len) {
  if (bytes.size() < kMagicBytes + kVersionBytes ||
      bytes.substr(0, kMagicBytes) != std::string_view(kMagic, kMagicBytes)) {
    return invalid_argument(where(name), " is not a .npy file (bad magic: expected \\x93NUMPY)");
  }
  auto major = static_cast<uint8_t>(bytes[kMagicBytes]);
  auto minor = static_cast<uint8_t>(bytes[kMagicBytes + 1]);
  size_t len_bytes = 0;
  if (major == 1 && minor == 0) {
    len_bytes = kHeaderLenBytesV1;
  } else if ((major == 2 || major == 3) && minor == 0) {
    len_bytes = kHeaderLenBytesV2;
  } else {
    return unimplemented(where(name), " has .npy format version ", int(major), ".", int(minor),
                         " (supported: 1.0, 2.0, 3.0)");
  }
  size_t preamble = kMagicBytes + kVersionBytes + len_bytes;
  if (bytes.size() < preamble) {
    return data_loss(where(name), " is truncated inside the .npy preamble");
  }
  *header_len = read_le(
      reinterpret_cast<const uint8_t*>(bytes.data()) + kMagicBytes + kVersionBytes, len_bytes);
  return preamble;
}

Status parse_header_text(std::string_view text, const std::string& name, NpyHeader* header) {
  std::vector<std::pair<std::string, PyValue>> entries;
  HeaderParser parser(text, name);
  PBMEM_RETURN_IF_ERROR(parser.parse(&entries));
  return header_from_dict(entries, name, header);
}

Status check_body_size(const NpyHeader& header, uint64_t available, const std::string& name) {
  auto need = static_cast<uint64_t>(header.body_bytes);
  if (available < need) {
    return data_loss(where(name), " is truncated: body has ", available, " bytes, shape ",
                     shape_tuple(header.shape), " of ", numpy_name(header.dtype), " needs ", need);
  }
  if (available > need) {
    return data_loss(where(name), " has ", available - need, " trailing bytes: body has ",
                     available, " bytes, shape ", shape_tuple(header.shape), " of ",
                     numpy_name(header.dtype), " needs ", need);
  }
  return ok_status();
}

// NumPy never writes other bool bytes, but a view can; kernels assume 0 or 1.
void normalize_bools(Tensor& t) {
  if (t.dtype() != DType::kBool) return;
  auto* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = p[i] != 0;
}

// Closes a POSIX file descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

Status read_exact(int fd, void* dst, size_t n, const std::string& path) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t got = ::read(fd, out, std::min(n, kReadChunkBytes));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return io_error("cannot read '", path, "': ", std::strerror(errno));
    if (got == 0) return data_loss(where(path), " is truncated (file shrank while reading)");
    out += got;
    n -= static_cast<size_t>(got);
  }
  return ok_status();
}

Status write_all(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t put = ::write(fd, data, std::min(n, kReadChunkBytes));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return io_error("cannot write '", path, "': ", std::strerror(errno));
    data += put;
    n -= static_cast<size_t>(put);
  }
  return ok_status();
}

std::string header_text(const Tensor& tensor) {
  std::string shape = "(";
  for (int i = 0; i < tensor.shape().rank(); ++i) {
    if (i) shape += ", ";
    shape += std::to_string(tensor.shape().dim(i));
  }
  if (tensor.shape().rank() == 1) shape += ",";
  shape += ")";
  const char* code = npy_code(tensor.dtype());
  std::string descr = str_cat(dtype_size(tensor.dtype()) == 1 ? "|" : "<", code);
  return str_cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
}

}  // namespace

Result<Tensor> parse_npy(const std::string& bytes, const std::string& name_for_errors) {
  const std::string& name = name_for_errors;
  uint32_t header_len = 0;
  PBMEM_ASSIGN_OR_RETURN(size_t preamble, parse_preamble(bytes, name, &header_len));
  if (bytes.size() - preamble < header_len) {
    return data_loss(where(name), " is truncated: the .npy header needs ", header_len,
                     " bytes, the file has ", bytes.size() - preamble, " after the preamble");
  }
  NpyHeader header;
  PBMEM_RETURN_IF_ERROR(
      parse_header_text(std::string_view(bytes).substr(preamble, header_len), name, &header));
  size_t body_offset = preamble + header_len;
  PBMEM_RETURN_IF_ERROR(check_body_size(header, bytes.size() - body_offset, name));
  PBMEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(header.dtype, header.shape));
  if (header.body_bytes > 0) {
    std::memcpy(t.raw_data(), bytes.data() + body_offset, static_cast<size_t>(header.body_bytes));
  }
  normalize_bools(t);
  return t;
}

Result<Tensor> read_npy(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer before fstat() refuses it (it does
  // not change reads of regular files).
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open '", path, "': ", std::strerror(errno));
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return io_error("cannot stat '", path, "': ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return io_error("'", path, "' is not a regular file");
  auto file_bytes = static_cast<uint64_t>(st.st_size);

  // The preamble and header are read first, so the body goes straight into the tensor.
  std::string head(std::min<uint64_t>(file_bytes, kMaxPreambleBytes), '\0');
  PBMEM_RETURN_IF_ERROR(read_exact(fd, head.data(), head.size(), path));
  uint32_t header_len = 0;
  PBMEM_ASSIGN_OR_RETURN(size_t preamble, parse_preamble(head, path, &header_len));
  if (file_bytes - preamble < header_len) {
    return data_loss(where(path), " is truncated: the .npy header needs ", header_len,
                     " bytes, the file has ", file_bytes - preamble, " after the preamble");
  }
  std::string text(header_len, '\0');
  size_t already = head.size() - preamble;  // header bytes read along with the preamble
  std::memcpy(text.data(), head.data() + preamble, std::min<size_t>(already, header_len));
  if (header_len > already) {
    PBMEM_RETURN_IF_ERROR(read_exact(fd, text.data() + already, header_len - already, path));
  }
  NpyHeader header;
  PBMEM_RETURN_IF_ERROR(parse_header_text(text, path, &header));
  uint64_t body_offset = preamble + header_len;
  PBMEM_RETURN_IF_ERROR(check_body_size(header, file_bytes - body_offset, path));
  PBMEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(header.dtype, header.shape));
  // Body bytes read along with the preamble (only when the header is shorter than 4 bytes).
  size_t body_in_head = already > header_len ? already - header_len : 0;
  if (body_in_head > 0) std::memcpy(t.raw_data(), head.data() + body_offset, body_in_head);
  PBMEM_RETURN_IF_ERROR(read_exact(fd, static_cast<char*>(t.raw_data()) + body_in_head,
                                   static_cast<size_t>(header.body_bytes) - body_in_head, path));
  normalize_bools(t);
  return t;
}

std::string serialize_npy(const Tensor& tensor) {
  if (!tensor.valid() || npy_code(tensor.dtype()) == nullptr) return std::string();
  std::string dict = header_text(tensor);
  // Version 1.0 unless the header does not fit its 16-bit length field.
  size_t unpadded = kMagicBytes + kVersionBytes + kHeaderLenBytesV1 + dict.size() + 1;
  bool v2 = unpadded + kHeaderAlignment > kMaxHeaderLenV1;
  size_t len_bytes = v2 ? kHeaderLenBytesV2 : kHeaderLenBytesV1;
  size_t prefix = kMagicBytes + kVersionBytes + len_bytes;
  size_t total =
      (prefix + dict.size() + 1 + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
  size_t header_len = total - prefix;
  dict.append(header_len - dict.size() - 1, ' ');
  dict.push_back('\n');

  std::string out(kMagic, kMagicBytes);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back(0);
  for (size_t i = 0; i < len_bytes; ++i)
    out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xFF));
  out += dict;
  out.append(static_cast<const char*>(tensor.raw_data()), tensor.num_bytes());
  return out;
}

bool npy_can_store(DType dtype) { return npy_code(dtype) != nullptr; }

Status write_npy(const Tensor& tensor, const std::string& path) {
  if (!tensor.valid() || npy_code(tensor.dtype()) == nullptr) {
    return unimplemented("cannot write '", path, "': dtype ", numpy_name(tensor.dtype()),
                         " has no .npy equivalent that pbmem writes");
  }
  std::string bytes = serialize_npy(tensor);
  // A unique temporary name in the same directory, so rename() is atomic.
  static std::atomic<uint64_t> counter{0};
  std::string tmp;
  int fd = -1;
  constexpr int kMaxAttempts = 100;
  for (int attempt = 0; attempt < kMaxAttempts && fd < 0; ++attempt) {
    tmp = str_cat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return io_error("cannot create '", tmp, "': ", std::strerror(errno));
  Status status = write_all(fd, bytes.data(), bytes.size(), tmp);
  if (::close(fd) != 0 && status.ok()) {
    status = io_error("cannot write '", tmp, "': ", std::strerror(errno));
  }
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = io_error("cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  }
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

}  // namespace pbmem
