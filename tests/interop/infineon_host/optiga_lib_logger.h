/* Our stand-in: library logging is compiled out in this harness. */
#ifndef INTEROP_OPTIGA_LIB_LOGGER_H
#define INTEROP_OPTIGA_LIB_LOGGER_H
#endif
