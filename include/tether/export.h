/* tether — symbol visibility for the public headers. */
#ifndef TETHER_EXPORT_H
#define TETHER_EXPORT_H

#if defined(_WIN32) && defined(TETHER_SHARED)
#  if defined(TETHER_BUILDING)
#    define TETHER_EXTERN __declspec(dllexport)
#  else
#    define TETHER_EXTERN __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define TETHER_EXTERN __attribute__((visibility("default")))
#else
#  define TETHER_EXTERN
#endif

#endif
