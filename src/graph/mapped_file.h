// A read-only memory mapping of a model file, plus a small arena for the parts of the file that
// are read often (names, attributes, small tensors).
//
// Why the arena: the kernel maps file pages around every page a process touches (fault-around,
// and on newer kernels whole large page-cache folios of a freshly written file), so reading a
// node name through the mapping can make megabytes of neighbouring weights resident. The parser
// copies the small parts into the arena; afterwards only large tensor contents are read through
// the mapping, when a run needs them, and any mapped page can be dropped from RSS at any time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pbmem {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  // An in-memory graph: the bytes are owned, nothing is mapped and nothing is copied.
  static std::shared_ptr<MappedFile> from_bytes(std::string bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool is_mapped() const { return mapped_; }
  std::string_view bytes() const {
    return std::string_view(reinterpret_cast<const char*>(data_), size_);
  }
  // True if ptr points into the mapped (or owned) file bytes, not into the arena.
  bool contains(const void* ptr) const;

  // Tells the kernel that the whole pages inside [ptr, ptr+len) will not be read again soon, so
  // they can leave RSS. Always safe on the mapping: a later read faults them back in from the
  // file. A no-op for owned bytes and for pointers outside the file.
  void release_pages(const void* ptr, uint64_t len) const;
  void release_all_pages() const { release_pages(data_, size_); }

  // For a mapped file: a copy of `bytes` in the arena, aligned to kArenaAlignment, that lives as
  // long as this object. For owned bytes: `bytes` itself (they are already in memory).
  std::string_view keep(std::string_view bytes);
  // Bytes copied into the arena so far.
  uint64_t kept_bytes() const { return kept_bytes_; }

  // Copies in the arena are aligned for any tensor dtype, so tensors can view them in place.
  static constexpr uint64_t kArenaAlignment = 64;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  std::string owned_;
  std::string path_;
  // Arena blocks; a block never moves, so views into it stay valid.
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;
  uint8_t* block_cursor_ = nullptr;
  uint64_t block_left_ = 0;
  uint64_t kept_bytes_ = 0;
};

}  // namespace pbmem
