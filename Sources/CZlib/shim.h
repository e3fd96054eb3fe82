#ifndef EDDY_CZLIB_SHIM_H
#define EDDY_CZLIB_SHIM_H
#include <zlib.h>
#endif
