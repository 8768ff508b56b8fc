// idx.h — MNIST IDX files (u8 images and labels) and the in-memory image dataset.
//
// IDX format: a big-endian u32 magic 0x000008NN (0x08 = u8 elements, NN = number
// of dimensions), NN big-endian u32 dims, then the elements row-major.
// MNIST images are 0x00000803 (N, rows, cols), labels 0x00000801 (N).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace data {

// A u8 IDX array as read from disk.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;   // numel(dims) elements, row-major
};

// Reads a u8 IDX file with `ndim` dimensions. Throws ft::Error naming the file
// and what is wrong: missing file, bad magic, truncated header or data, extra bytes.
IdxArray read_idx_u8(const std::string& path, int ndim);
// Writes a u8 IDX file (magic 0x0000080N with N = dims.size()).
void write_idx_u8(const std::string& path, const std::vector<int64_t>& dims,
                  const std::vector<uint8_t>& values);

// Images and labels held in memory.
struct Dataset {
  Tensor images;   // (N, rows*cols) f32, pixel / 255 in [0, 1]
  Tensor labels;   // (N) i32
  int64_t rows = 0, cols = 0;

  int64_t size() const { return labels.numel(); }
  // The images as (N, 1, rows, cols), sharing storage (for convolutions).
  Tensor images_nchw() const { return images.reshaped({size(), 1, rows, cols}); }
};

// Loads an image file (0x803) and a label file (0x801); throws ft::Error when
// either is invalid or their counts differ.
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path);

// Loads DIR/train-images-idx3-ubyte + DIR/train-labels-idx1-ubyte (split "train")
// or DIR/t10k-images-idx3-ubyte + DIR/t10k-labels-idx1-ubyte (split "test"),
// as written by scripts/fetch_mnist.sh.
Dataset load_mnist(const std::string& dir, const std::string& split);

}  // namespace data
}  // namespace ft
