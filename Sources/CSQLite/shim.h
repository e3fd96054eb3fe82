#ifndef EDDY_CSQLITE_SHIM_H
#define EDDY_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
