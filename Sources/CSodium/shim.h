#ifndef FEDSIM_CSODIUM_SHIM_H
#define FEDSIM_CSODIUM_SHIM_H
#include <sodium.h>
#endif
