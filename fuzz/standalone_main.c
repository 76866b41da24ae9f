/* A main() for the fuzz harnesses when libFuzzer is not used (any compiler),
 * in the spirit of nanopb's tests/fuzztest: the same LLVMFuzzerTestOneInput
 * runs over files or over seeded pseudo-random inputs.
 *
 *   harness [-v] FILE_OR_DIR...
 *       runs every file (directories: every regular file in them, sorted;
 *       names starting with '.' or ending in .md / .txt are notes, skipped)
 *   harness --iterations N [--seed S] [--max-len L] [DIR_OR_FILE...]
 *       runs N inputs: random bytes, and, when files are given, those files
 *       mutated (bit flips, byte changes, inserts, erases, repeats, splices,
 *       interesting values); the same S always gives the same inputs.
 *       L (default 4096, or twice the largest file) caps an input's length.
 *
 * Each input is copied into an exactly sized heap block first, so ASan
 * catches any read past its end, as under libFuzzer. When an input fails
 * (abort, a sanitizer report, a crash), it is written to
 * crash-standalone-<seed>-<n> in $FUZZ_ARTIFACT_DIR (default: the current
 * directory) and the path is printed, so it can be replayed and then kept
 * under fuzz/regressions/<harness>/. Exit status 0 when all inputs ran.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#if defined(__GNUC__)
__attribute__((weak))
#endif
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---------------------------------------------------------------- inputs */

typedef struct input {
  char *name;
  uint8_t *data;
  size_t len;
} input;

typedef struct inputs {
  input *v;
  size_t n, cap;
} inputs;

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return q;
}

static int is_note(const char *base) {
  size_t n = strlen(base);
  return base[0] == '.' || (n > 3 && strcmp(base + n - 3, ".md") == 0) ||
         (n > 4 && strcmp(base + n - 4, ".txt") == 0);
}

static int read_file(const char *path, inputs *in) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) buf = xrealloc(buf, cap = cap ? cap * 2 : 4096);
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "%s: read error\n", path);
    free(buf);
    return -1;
  }
  if (in->n == in->cap) in->v = xrealloc(in->v, (in->cap = in->cap ? in->cap * 2 : 64) * sizeof *in->v);
  in->v[in->n].name = strdup(path);
  in->v[in->n].data = buf;
  in->v[in->n].len = len;
  in->n++;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load(const char *path, inputs *in) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) return read_file(path, in);
  DIR *d = opendir(path);
  if (!d) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (is_note(e->d_name)) continue;
    size_t len = strlen(path) + strlen(e->d_name) + 2;
    char *full = xrealloc(NULL, len);
    snprintf(full, len, "%s/%s", path, e->d_name);
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(full);
      continue;
    }
    names = xrealloc(names, (n + 1) * sizeof *names);
    names[n++] = full;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_str);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (read_file(names[i], in) != 0) rc = -1;
    free(names[i]);
  }
  free(names);
  return rc;
}

/* ------------------------------------------------------ crash artifacts */

static const uint8_t *cur;
static size_t cur_len;
static char artifact[4096];
static const char *cur_name; /* replay: the file being run */

static void say(const char *a, const char *b) {
  if (write(2, a, strlen(a)) < 0 || write(2, b, strlen(b)) < 0 || write(2, "\n", 1) < 0) {
    /* nothing more to do in a dying process */
  }
}

/* Async-signal-safe: write(2) only. */
static void save_current(void) {
  static volatile sig_atomic_t done;
  if (done || !cur) return;
  done = 1;
  if (!artifact[0]) {
    if (cur_name) say("standalone: failing input: ", cur_name);
    return;
  }
  int fd = open(artifact, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    size_t off = 0;
    while (off < cur_len) {
      ssize_t w = write(fd, cur + off, cur_len - off);
      if (w <= 0) break;
      off += (size_t)w;
    }
    close(fd);
    say("standalone: failing input saved to ", artifact);
  }
}

static void on_signal(int sig) {
  save_current();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Sanitizers (gcc and clang) call this before they exit on an error. */
void __sanitizer_set_death_callback(void (*cb)(void));
#if defined(__GNUC__)
#pragma weak __sanitizer_set_death_callback
#endif

static void install_handlers(void) {
  static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_signal);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_current);
}

static void run_one(const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  if (len) memcpy(copy, data, len);
  cur = copy, cur_len = len;
  LLVMFuzzerTestOneInput(copy, len);
  cur = NULL;
  free(copy);
}

/* ------------------------------------------------------------ mutations */

static uint64_t rng;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Values that sit on protobuf and framing boundaries. */
static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x12, 0x1a,
                                      0x7f, 0x80, 0x81, 0xc0, 0xfe, 0xff};

static size_t mutate(uint8_t *buf, size_t len, size_t cap, const inputs *corpus) {
  int edits = 1 + (int)below(4);
  for (int e = 0; e < edits; e++) {
    size_t at = below(len + 1);
    switch (below(8)) {
    case 0: if (len) buf[below(len)] ^= (uint8_t)(1u << below(8)); break;
    case 1: if (len) buf[below(len)] = (uint8_t)rnd(); break;
    case 2: if (len) buf[below(len)] = interesting[below(sizeof interesting)]; break;
    case 3: /* insert a byte */
      if (len < cap) {
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = (uint8_t)rnd();
        len++;
      }
      break;
    case 4: /* erase a run */
      if (len) {
        size_t from = below(len), n = 1 + below(len - from < 8 ? len - from : 8);
        memmove(buf + from, buf + from + n, len - from - n);
        len -= n;
      }
      break;
    case 5: /* repeat a run */
      if (len) {
        size_t from = below(len), n = 1 + below(len - from < 16 ? len - from : 16);
        if (len + n <= cap) {
          memmove(buf + at + n, buf + at, len - at);
          memmove(buf + at, buf + (from < at ? from : from + n), n);
          len += n;
        }
      }
      break;
    case 6: /* splice in a piece of another corpus entry */
      if (corpus->n) {
        const input *o = &corpus->v[below(corpus->n)];
        if (o->len) {
          size_t from = below(o->len), n = 1 + below(o->len - from);
          if (len + n > cap) n = cap - len;
          memmove(buf + at + n, buf + at, len - at);
          memcpy(buf + at, o->data + from, n);
          len += n;
        }
      }
      break;
    default: /* truncate */
      len = below(len + 1);
      break;
    }
  }
  return len;
}

/* ------------------------------------------------------------------ main */

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-v] FILE_OR_DIR...\n"
          "       %s --iterations N [--seed S] [--max-len L] [FILE_OR_DIR...]\n",
          argv0, argv0);
  return 2;
}

int main(int argc, char **argv) {
  unsigned long long iterations = 0, seed = 1;
  size_t max_len = 4096;
  int verbose = 0, have_iter = 0, have_max = 0;
  inputs corpus = {0};
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int bad_path = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-v") == 0) verbose = 1;
    else if (strcmp(a, "--iterations") == 0 && i + 1 < argc)
      iterations = strtoull(argv[++i], NULL, 0), have_iter = 1;
    else if (strcmp(a, "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
    else if (strcmp(a, "--max-len") == 0 && i + 1 < argc)
      max_len = (size_t)strtoull(argv[++i], NULL, 0), have_max = 1;
    else if (a[0] == '-') return usage(argv[0]);
    else if (load(a, &corpus) != 0) bad_path = 1;
  }
  if (bad_path) return 2;
  /* Mutated seeds keep their full length unless --max-len says otherwise. */
  for (size_t i = 0; i < corpus.n && !have_max; i++)
    if (corpus.v[i].len * 2 > max_len) max_len = corpus.v[i].len * 2;
  if (!have_iter && corpus.n == 0 && argc < 2) return usage(argv[0]);
  const char *dir = getenv("FUZZ_ARTIFACT_DIR");
  install_handlers();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  unsigned long long runs = 0;
  if (!have_iter) {
    for (size_t i = 0; i < corpus.n; i++) {
      if (verbose) fprintf(stderr, "Running: %s\n", corpus.v[i].name);
      artifact[0] = '\0'; /* a replayed file is its own artifact */
      cur_name = corpus.v[i].name;
      run_one(corpus.v[i].data, corpus.v[i].len);
      runs++;
    }
  } else {
    uint8_t *buf = malloc(max_len ? max_len : 1);
    if (!buf) return 2;
    rng = seed;
    for (unsigned long long it = 0; it < iterations; it++) {
      size_t len;
      if (corpus.n && (rnd() & 3) != 0) {
        const input *o = &corpus.v[below(corpus.n)];
        len = o->len < max_len ? o->len : max_len;
        memcpy(buf, o->data, len);
        len = mutate(buf, len, max_len, &corpus);
      } else {
        /* Mostly short inputs: that is where parsers branch. */
        size_t lim = (rnd() & 7) ? 64 : max_len;
        len = below(lim + 1);
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rnd();
      }
      snprintf(artifact, sizeof artifact, "%s%scrash-standalone-%llu-%llu", dir ? dir : "",
               dir ? "/" : "", seed, it);
      run_one(buf, len);
      runs++;
    }
    free(buf);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf(stderr, "%s: %llu inputs (%zu files) in %.2f s\n", argv[0], runs, corpus.n, s);
  for (size_t i = 0; i < corpus.n; i++) {
    free(corpus.v[i].name);
    free(corpus.v[i].data);
  }
  free(corpus.v);
  return 0;
}
