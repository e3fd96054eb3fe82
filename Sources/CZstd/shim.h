#ifndef EDDY_CZSTD_SHIM_H
#define EDDY_CZSTD_SHIM_H
#include <zstd.h>
#endif
