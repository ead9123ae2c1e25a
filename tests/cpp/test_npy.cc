// .npy reader/writer: round trips of every dtype, byte-exact agreement with files NumPy writes
// (fixtures spelled out by hand below), and a clear error for every kind of bad file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/npy.h"

namespace pbmem {
namespace {

namespace fs = std::filesystem;

// NumPy's preamble: magic, version, little-endian header length.
std::string preamble(int major, uint32_t header_len) {
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i)
    out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xFF));
  return out;
}

// A .npy file with this dict (padded with spaces and '\n' as NumPy does) and body.
std::string make_npy(const std::string& dict, const std::string& body, int major = 1) {
  size_t prefix = major == 1 ? 10 : 12;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  std::string header = dict + std::string(total - prefix - dict.size() - 1, ' ') + "\n";
  return preamble(major, static_cast<uint32_t>(header.size())) + header + body;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return out;
}

Tensor patterned(DType dtype, const Shape& shape) {
  Result<Tensor> t = Tensor::allocate(dtype, shape);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  auto* p = static_cast<uint8_t*>(t->raw_data());
  for (size_t i = 0; i < t->num_bytes(); ++i) {
    p[i] = dtype == DType::kBool ? static_cast<uint8_t>(i % 2) : static_cast<uint8_t>(i * 37 + 11);
  }
  return *t;
}

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.num_bytes(), b.num_bytes());
  EXPECT_EQ(0, std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()));
}

// Expects parse_npy to fail with a message containing every fragment.
void expect_error(const std::string& bytes, std::initializer_list<const char*> fragments) {
  Result<Tensor> t = parse_npy(bytes, "x.npy");
  ASSERT_FALSE(t.ok()) << "parsed a bad file";
  const std::string& msg = t.status().message();
  EXPECT_NE(msg.find("'x.npy'"), std::string::npos) << msg;
  for (const char* f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << msg;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("pbmem_npy_test_" + std::to_string(::getpid()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  size_t count() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(path_)) ++n;
    return n;
  }

 private:
  fs::path path_;
};

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Npy, RoundTripEveryDType) {
  const DType dtypes[] = {DType::kFloat,  DType::kDouble, DType::kInt32,  DType::kInt64,
                          DType::kUInt8,  DType::kBool,   DType::kInt8,   DType::kInt16,
                          DType::kUInt16, DType::kUInt32, DType::kUInt64, DType::kHalf};
  const Shape shapes[] = {Shape(), Shape{5}, Shape{2, 3}, Shape{0, 3}, Shape{1, 2, 1, 3}};
  TempDir dir;
  for (DType dtype : dtypes) {
    for (const Shape& shape : shapes) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str());
      Tensor t = patterned(dtype, shape);
      std::string bytes = serialize_npy(t);
      ASSERT_FALSE(bytes.empty());
      EXPECT_EQ(0u, (bytes.size() - t.num_bytes()) % 64) << "header not padded to 64 bytes";
      Result<Tensor> back = parse_npy(bytes, "mem.npy");
      ASSERT_TRUE(back.ok()) << back.status().to_string();
      expect_same(t, *back);

      std::string path = dir.file("t.npy");
      ASSERT_TRUE(write_npy(t, path).ok());
      Result<Tensor> read = read_npy(path);
      ASSERT_TRUE(read.ok()) << read.status().to_string();
      expect_same(t, *read);
    }
  }
  EXPECT_EQ(1u, dir.count()) << "write_npy left a temporary file behind";
}

TEST(Npy, WritesExactlyWhatNumPyWrites) {
  // np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3))
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string numpy = preamble(1, 0x76) + dict + std::string(0x76 - dict.size() - 1, ' ') + "\n" +
                      float_bytes({0, 1, 2, 3, 4, 5});
  Result<Tensor> t = parse_npy(numpy, "numpy.npy");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(DType::kFloat, t->dtype());
  EXPECT_EQ(Shape({2, 3}), t->shape());
  EXPECT_EQ(5.0f, t->data<float>()[5]);
  EXPECT_EQ(numpy, serialize_npy(*t));
}

TEST(Npy, ReadsNumPyBoolScalarAnd1D) {
  // np.save(f, np.array([True, False, True]))
  Result<Tensor> b = parse_npy(make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                                        std::string("\1\0\1", 3)),
                               "b.npy");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(DType::kBool, b->dtype());
  EXPECT_EQ(Shape({3}), b->shape());
  // np.save(f, np.array(7, dtype=np.int64))
  int64_t seven = 7;
  Result<Tensor> s =
      parse_npy(make_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
                         std::string(reinterpret_cast<const char*>(&seven), sizeof(seven))),
                "s.npy");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(Shape(), s->shape());
  EXPECT_EQ(7, *s->data<int64_t>());
}

TEST(Npy, AcceptsOtherSpellingsNumPyMayUse) {
  std::string body = float_bytes({1, 2});
  // Versions 2.0 and 3.0, '=' byte order, double quotes, key order, no trailing comma,
  // Python 2 long suffix, 16-byte padding of old NumPy versions.
  for (int major : {2, 3}) {
    Result<Tensor> t = parse_npy(
        make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", body, major),
        "v.npy");
    EXPECT_TRUE(t.ok()) << t.status().to_string();
  }
  const char* dicts[] = {
      "{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }",
      "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}",
      "{'descr':'<f4','fortran_order':True,'shape':(2,)}",  // 1-D: same bytes in either order
  };
  for (const char* dict : dicts) {
    Result<Tensor> t = parse_npy(make_npy(dict, body), "v.npy");
    EXPECT_TRUE(t.ok()) << dict << ": " << t.status().to_string();
  }
  std::string old = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  old += std::string(16 - (10 + old.size() + 1) % 16, ' ') + "\n";
  EXPECT_TRUE(parse_npy(preamble(1, static_cast<uint32_t>(old.size())) + old + body, "o.npy").ok());
  // '<u1' is as valid as '|u1' for a 1-byte type.
  EXPECT_TRUE(
      parse_npy(make_npy("{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }", "a"), "u.npy")
          .ok());
}

TEST(Npy, NormalizesBoolBytes) {
  Result<Tensor> b = parse_npy(make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
                                        std::string("\x05\0", 2)),
                               "b.npy");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(1, b->data<uint8_t>()[0]);
  EXPECT_EQ(0, b->data<uint8_t>()[1]);
}

TEST(Npy, TruncatedBody) {
  expect_error(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,3), }", float_bytes({1, 2})),
      {"is truncated: body has 8 bytes, shape (1,3) of float32 needs 12"});
}

TEST(Npy, TrailingBytes) {
  expect_error(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", float_bytes({1, 2})),
      {"4 trailing bytes", "needs 4"});
}

TEST(Npy, BadMagicAndVersion) {
  expect_error("", {"bad magic"});
  expect_error("PK\3\4 this is a zip", {"not a .npy file"});
  std::string v4 =
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", float_bytes({1}));
  v4[6] = 4;
  expect_error(v4, {"version 4.0"});
  expect_error(preamble(1, 0).substr(0, 9), {"truncated"});
  expect_error(preamble(1, 500) + "{'descr'", {"truncated", "header needs 500"});
}

TEST(Npy, BadHeader) {
  struct Case {
    const char* dict;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "expected '{'"},
      {"not a dict", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'"},
      {"{'descr': '<f4', 'shape': (1,)}", "lacks 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (1,)}", "lacks 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
       "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "twice"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "must be True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "tuple of ints"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ('a',)}", "tuple of ints"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "unexpected character '-'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,) } trailing",
       "after the header dict"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
       "expected ',' or '}' after the value of 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected ',' or '}'"},
      {"{'descr': 3, 'fortran_order': False, 'shape': (1,)}", "'descr' in the .npy header must be"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "overflows"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': "
       "((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),)}",
       "nested deeper"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.dict);
    expect_error(make_npy(c.dict, float_bytes({1})), {c.fragment});
  }
}

TEST(Npy, BigEndian) {
  expect_error(
      make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", float_bytes({1})),
      {"big endian", "'>f4'"});
}

TEST(Npy, FortranOrder) {
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                        float_bytes({1, 2, 3, 4, 5, 6})),
               {"Fortran order", "(2,3)"});
}

TEST(Npy, UnsupportedDTypes) {
  struct Case {
    const char* descr;
    const char* fragment;
  };
  const Case cases[] = {
      {"'|O'", "object array"},      {"'<U3'", "string array"},
      {"'|S4'", "string array"},     {"'|V8'", "structured"},
      {"'<c8'", "does not support"}, {"'<M8[ns]'", "does not support"},
      {"'|f4'", "byte order '|'"},   {"'f4'", "does not support"},
      {"'x'", "not a NumPy type"},   {"[('a', '<f4'), ('b', '<i4')]", "structured array"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.descr);
    expect_error(
        make_npy(std::string("{'descr': ") + c.descr + ", 'fortran_order': False, 'shape': (1,), }",
                 float_bytes({1, 2})),
        {c.fragment});
  }
}

TEST(Npy, HugeShapeOverflows) {
  expect_error(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
               float_bytes({1})),
      {"too large"});
  expect_error(
      make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976, 2), }",
               float_bytes({1})),
      {"too large"});
  // Large but representable: a truncation error, not an allocation attempt.
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }",
                        float_bytes({1})),
               {"is truncated", "needs 4000000000000"});
}

TEST(Npy, ReadFileErrors) {
  TempDir dir;
  Result<Tensor> missing = read_npy(dir.file("missing.npy"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.npy"), std::string::npos);

  std::string path = dir.file("short.npy");
  write_file(path, make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,3), }",
                            float_bytes({1, 2})));
  Result<Tensor> truncated = read_npy(path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("short.npy' is truncated: body has 8 bytes"),
            std::string::npos)
      << truncated.status().message();

  write_file(path, "\x93NUMPY");
  EXPECT_FALSE(read_npy(path).ok());
  EXPECT_FALSE(read_npy(dir.file("")).ok());  // a directory
}

TEST(Npy, WriteReplacesAtomicallyAndReportsErrors) {
  TempDir dir;
  std::string path = dir.file("out.npy");
  write_file(path, "old contents");
  Tensor t = patterned(DType::kInt32, Shape{4});
  ASSERT_TRUE(write_npy(t, path).ok());
  Result<Tensor> back = read_npy(path);
  ASSERT_TRUE(back.ok());
  expect_same(t, *back);
  EXPECT_EQ(1u, dir.count());

  Status bad_dir = write_npy(t, dir.file("no/such/dir/out.npy"));
  EXPECT_FALSE(bad_dir.ok());
  EXPECT_NE(bad_dir.message().find("no/such/dir"), std::string::npos);

  Result<Tensor> bf16 = Tensor::allocate(DType::kBFloat16, Shape{1});
  ASSERT_TRUE(bf16.ok());
  Status unsupported = write_npy(*bf16, dir.file("bf16.npy"));
  EXPECT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.message().find("bfloat16"), std::string::npos);
  EXPECT_EQ(1u, dir.count());
}

}  // namespace
}  // namespace pbmem
