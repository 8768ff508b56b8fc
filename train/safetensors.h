// safetensors.h — read and write the safetensors format (8-byte little-endian
// header length, a JSON header of name -> {dtype, shape, data_offsets}, then
// the raw little-endian data), readable by other tools. Writes are atomic
// (temporary file + fsync + rename). A checksum of the data in the metadata
// ("ft_fnv64") makes corruption a clear error instead of silent garbage.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace ft {
namespace train {

using TensorMap = std::map<std::string, Tensor>;

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Throws ft::Error naming the file and the problem (missing, truncated, bad header, checksum).
TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// Writes `text` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

}  // namespace train
}  // namespace ft
