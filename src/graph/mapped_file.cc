// MappedFile: mmap of a model file (no large folios), page release, and the copy arena.
#include "graph/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

namespace pbmem {

namespace {

// Arena blocks are this large; a copy larger than a quarter block gets a block of its own, so
// at most a quarter of a block is wasted at its end.
constexpr uint64_t kArenaBlockBytes = 256 * 1024;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

}  // namespace

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer before fstat() refuses it (it does
  // not change reads of regular files).
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open '", path, "': ", errno_text(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("cannot stat '", path, "': ", errno_text(err));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return io_error("'", path, "' is not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(info.st_size);
  if (size == 0) {
    ::close(fd);
    return data_loss("'", path, "' is empty (0 bytes): a GraphDef file cannot be empty");
  }
  if (size > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    return io_error("'", path, "' is too large to map (", size, " bytes)");
  }
  void* mapping = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (mapping == MAP_FAILED) {
    return io_error("cannot map '", path, "' (", size, " bytes): ", errno_text(map_errno));
  }
  // No large folios for this mapping: on a file just written, one touch of a node name would
  // otherwise map megabytes of the weights around it (ResNet50 inspect: 71 MB -> 19 MB RSS).
  ::madvise(mapping, static_cast<size_t>(size), MADV_NOHUGEPAGE);

  std::shared_ptr<MappedFile> file(new MappedFile());
  file->data_ = static_cast<const uint8_t*>(mapping);
  file->size_ = size;
  file->mapped_ = true;
  file->path_ = path;
  return file;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::string bytes) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->owned_ = std::move(bytes);
  file->data_ = reinterpret_cast<const uint8_t*>(file->owned_.data());
  file->size_ = file->owned_.size();
  return file;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

void MappedFile::release_pages(const void* ptr, uint64_t len) const {
  // Only file-backed pages can be dropped safely (they are re-read from the file on access);
  // dropping an owned buffer's pages would zero them.
  if (!mapped_ || ptr == nullptr || len == 0) return;
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t map_begin = reinterpret_cast<uintptr_t>(data_);
  uintptr_t map_end = map_begin + size_;
  uintptr_t begin = reinterpret_cast<uintptr_t>(ptr);
  if (begin < map_begin || begin >= map_end) return;
  if (len > map_end - begin) len = map_end - begin;
  // Only whole pages inside the range: the partial pages at its ends hold bytes of neighbours
  // that may be read soon (dropping them is safe, but costs a refault). The mapping's last page
  // is whole as far as the mapping goes.
  uintptr_t first = (begin + page - 1) / page * page;
  uintptr_t last = begin + len == map_end ? (map_end + page - 1) / page * page
                                          : (begin + len) / page * page;
  if (last <= first) return;
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

bool MappedFile::contains(const void* ptr) const {
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  uintptr_t begin = reinterpret_cast<uintptr_t>(data_);
  return p >= begin && p - begin < size_;
}

std::string_view MappedFile::keep(std::string_view bytes) {
  if (!mapped_ || bytes.empty()) return bytes;
  uint64_t need = align_up(bytes.size(), kArenaAlignment);
  uint8_t* dest = nullptr;
  if (need > kArenaBlockBytes / 4) {
    // Over-allocate by the alignment so the copy can start on an aligned address.
    blocks_.emplace_back(new uint8_t[need + kArenaAlignment]);
    dest = reinterpret_cast<uint8_t*>(
        align_up(reinterpret_cast<uintptr_t>(blocks_.back().get()), kArenaAlignment));
  } else {
    if (need > block_left_) {
      blocks_.emplace_back(new uint8_t[kArenaBlockBytes + kArenaAlignment]);
      block_cursor_ = reinterpret_cast<uint8_t*>(
          align_up(reinterpret_cast<uintptr_t>(blocks_.back().get()), kArenaAlignment));
      block_left_ = kArenaBlockBytes;
    }
    dest = block_cursor_;
    block_cursor_ += need;
    block_left_ -= need;
  }
  std::memcpy(dest, bytes.data(), bytes.size());
  kept_bytes_ += bytes.size();
  return std::string_view(reinterpret_cast<const char*>(dest), bytes.size());
}

}  // namespace pbmem
