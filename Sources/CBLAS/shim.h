#ifndef QTUI_CBLAS_SHIM_H
#define QTUI_CBLAS_SHIM_H
/* OpenBLAS's cblas.h; Debian's libopenblas-dev installs it (through alternatives) as
   /usr/include/x86_64-linux-gnu/cblas.h, which is on the default include path. */
#include <cblas.h>
#endif
