// main.cpp — the `train` program: the library's command line (train/cli.h) over
// the built-in models, datasets and strategies.
#include "train/cli.h"

int main(int argc, char** argv) { return ft::train::main(argc, argv, "train"); }
