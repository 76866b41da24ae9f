/* A small test harness (libuv-style): a table of tests, each run in its own
 * forked process with a timeout, so a crash or hang fails one test only.
 * The binary doubles as its own helper child: `argv[0] --helper NAME ...`
 * runs a registered helper instead of the tests.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   HELPER(name) { ...; return exit_code; }   (argc/argv available)
 *   TEST_MAIN(TEST_ENTRY(name), ..., HELPER_ENTRY(name), ...)
 *
 * Run: ./test_x [name...]   (no names: all tests). Prints one line per test
 * and "N passed, N failed" at the end; exits non-zero if any failed.
 * TEST_TIMEOUT (seconds, env) overrides the default of 60 per test.
 */
#ifndef TETHER_TEST_HARNESS_H
#define TETHER_TEST_HARNESS_H

#ifdef _WIN32
/* Windows has no fork: each test runs in a fresh copy of the test binary
 * (`argv[0] --run-one NAME`, started with CreateProcess and killed with its
 * job object on timeout). Everything else is shared. */
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <errno.h>
#  include <inttypes.h>
#  include <signal.h>
#  include <stdint.h>
#  include <stdio.h>
#  include <stdlib.h>
#  include <string.h>
#  include <windows.h>
#else
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

/* The child ends with _exit, which skips LeakSanitizer's exit-time check;
 * under ASan the harness runs the check explicitly after every test. */
#if defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define TETHER_TEST_LSAN 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(TETHER_TEST_LSAN)
#  define TETHER_TEST_LSAN 1
#endif
#ifdef TETHER_TEST_LSAN
#  include <sanitizer/lsan_interface.h>
#endif

typedef struct test_entry {
  const char *name;
  void (*fn)(void);
  int (*helper)(int argc, char **argv);
} test_entry;

static const char *test_argv0;

#define TEST(name) static void test_##name(void)
#define HELPER(name) static int helper_##name(int argc, char **argv)
#define TEST_ENTRY(name) { #name, test_##name, NULL }
#define HELPER_ENTRY(name) { #name, NULL, helper_##name }

#define FAIL(...)                                                         \
  do {                                                                    \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                     \
    fprintf(stderr, __VA_ARGS__);                                         \
    fprintf(stderr, "\n");                                                \
    fflush(stderr);                                                       \
    _exit(1);                                                             \
  } while (0)

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) FAIL("check failed: %s", #cond);                         \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                \
  do {                                                                    \
    long long a_ = (long long)(a), b_ = (long long)(b);                   \
    if (a_ != b_) FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);         \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                \
  do {                                                                    \
    const char *a_ = (a), *b_ = (b);                                      \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
      FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",      \
           b_ ? b_ : "(null)");                                           \
  } while (0)

#define CHECK_EQ_MEM(a, alen, b, blen)                                    \
  do {                                                                    \
    size_t al_ = (size_t)(alen), bl_ = (size_t)(blen);                    \
    if (al_ != bl_ || (al_ && memcmp((a), (b), al_) != 0))                \
      FAIL("%s == %s: %zu vs %zu bytes differ", #a, #b, al_, bl_);        \
  } while (0)

/* Checks a tether call returned 0, printing the code's name otherwise. */
#define CHECK_OK(expr)                                                    \
  do {                                                                    \
    int rc_ = (expr);                                                     \
    if (rc_ != 0) FAIL("%s returned %d (%s)", #expr, rc_, tether_err_name(rc_)); \
  } while (0)

#ifdef _WIN32
static inline uint64_t test_now_ms(void) { return (uint64_t)GetTickCount64(); }

/* Runs `t` in a new process: this binary with `--run-one NAME`, in a job
 * object so a test's own children die with it. */
static int test_run_one(const test_entry *t, int timeout_s) {
  static wchar_t exe[32768];
  wchar_t cmd[32768 + 512];
  fflush(stdout);
  fflush(stderr);
  DWORD n = GetModuleFileNameW(NULL, exe, 32768);
  if (n == 0 || n >= 32768) {
    fprintf(stderr, "  GetModuleFileNameW failed\n");
    return 1;
  }
  size_t k = 0;
  cmd[k++] = L'"';
  for (DWORD i = 0; i < n; i++) cmd[k++] = exe[i];
  static const wchar_t opt[] = L"\" --run-one ";
  for (size_t i = 0; opt[i]; i++) cmd[k++] = opt[i];
  for (const char *c = t->name; *c && k < sizeof cmd / sizeof cmd[0] - 1; c++)
    cmd[k++] = (wchar_t)(unsigned char)*c; /* test names are ASCII */
  cmd[k] = 0;

  /* The child writes to our stdout/stderr: pass inheritable copies. */
  HANDLE self = GetCurrentProcess(), std[3] = { 0, 0, 0 };
  const DWORD which[3] = { STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE };
  for (int i = 0; i < 3; i++) {
    HANDLE h = GetStdHandle(which[i]);
    if (h && h != INVALID_HANDLE_VALUE)
      DuplicateHandle(self, h, self, &std[i], 0, TRUE, DUPLICATE_SAME_ACCESS);
  }
  STARTUPINFOW si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = std[0];
  si.hStdOutput = std[1];
  si.hStdError = std[2];
  PROCESS_INFORMATION pi;
  BOOL ok;
  DWORD err;
  /* Wine, under load, now and then fails to start a process with
   * ERROR_INTERNAL_ERROR before anything of it ran (seen once in CI); the
   * test has not started, so starting it again is fair. */
  for (int attempt = 1;; attempt++) {
    ok = CreateProcessW(exe, cmd, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &si, &pi);
    err = GetLastError();
    if (ok || err != ERROR_INTERNAL_ERROR || attempt == 3) break;
    fprintf(stderr, "  CreateProcessW failed (error %lu), starting the test again\n",
            (unsigned long)err);
    Sleep(100);
  }
  for (int i = 0; i < 3; i++)
    if (std[i]) CloseHandle(std[i]);
  if (!ok) {
    fprintf(stderr, "  CreateProcessW failed (error %lu)\n", (unsigned long)err);
    return 1;
  }
  HANDLE job = CreateJobObjectW(NULL, NULL);
  if (job) {
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
    memset(&li, 0, sizeof li);
    li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    SetInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li);
    if (!AssignProcessToJobObject(job, pi.hProcess)) { /* then the process alone */
      CloseHandle(job);
      job = NULL;
    }
  }
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  int bad = 0;
  if (WaitForSingleObject(pi.hProcess, (DWORD)timeout_s * 1000u) != WAIT_OBJECT_0) {
    if (job) TerminateJobObject(job, 1);
    TerminateProcess(pi.hProcess, 1);
    WaitForSingleObject(pi.hProcess, 10000);
    fprintf(stderr, "  timed out after %d s\n", timeout_s);
    bad = 1;
  } else {
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    if (code >= 0xC0000000u) fprintf(stderr, "  crashed: exception 0x%08lx\n", (unsigned long)code);
    bad = code != 0;
  }
  if (job) {
    TerminateJobObject(job, 1); /* leftovers of the test's own children */
    CloseHandle(job);
  }
  CloseHandle(pi.hProcess);
  return bad;
}
#else
static inline uint64_t test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int test_run_one(const test_entry *t, int timeout_s) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    setpgid(0, 0); /* the test and its children form one group to kill */
    t->fn();
#ifdef TETHER_TEST_LSAN
    if (__lsan_do_recoverable_leak_check() != 0) {
      fprintf(stderr, "  memory leaked\n");
      _exit(1);
    }
#endif
    fflush(stdout);
    _exit(0);
  }
  setpgid(pid, pid);
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_s * 1000u;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      perror("waitpid");
      return 1;
    }
    if (test_now_ms() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      fprintf(stderr, "  timed out after %d s\n", timeout_s);
      return 1;
    }
    usleep(2000);
  }
  kill(-pid, SIGKILL); /* leftovers of the test's own group */
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "  killed by signal %d\n", WTERMSIG(status));
    return 1;
  }
  return WEXITSTATUS(status) != 0;
}
#endif

static int test_main(const test_entry *tests, size_t n, int argc, char **argv) {
  test_argv0 = argv[0];
#ifdef _WIN32
  /* No error dialogs (crash, missing media) from us or our children. */
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
  if (argc >= 3 && strcmp(argv[1], "--run-one") == 0) {
    for (size_t i = 0; i < n; i++)
      if (tests[i].fn && strcmp(tests[i].name, argv[2]) == 0) {
        tests[i].fn();
        fflush(stdout);
        return 0;
      }
    fprintf(stderr, "no test named %s\n", argv[2]);
    return 2;
  }
#else
  signal(SIGPIPE, SIG_IGN);
#endif
  if (argc >= 3 && strcmp(argv[1], "--helper") == 0) {
    for (size_t i = 0; i < n; i++)
      if (tests[i].helper && strcmp(tests[i].name, argv[2]) == 0)
        return tests[i].helper(argc - 2, argv + 2);
    fprintf(stderr, "no helper named %s\n", argv[2]);
    return 2;
  }
  int timeout_s = 60;
  const char *env = getenv("TEST_TIMEOUT");
  if (env && atoi(env) > 0) timeout_s = atoi(env);
  int passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (!tests[i].fn) continue;
    if (argc > 1) {
      int want = 0;
      for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], tests[i].name) == 0) want = 1;
      if (!want) continue;
    }
    uint64_t t0 = test_now_ms();
    int bad = test_run_one(&tests[i], timeout_s);
    printf("%s %s (%" PRIu64 " ms)\n", bad ? "FAIL" : "ok  ", tests[i].name,
           test_now_ms() - t0);
    fflush(stdout);
    if (bad) failed++;
    else passed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                    \
  int main(int argc, char **argv) {                                       \
    static const test_entry tests_[] = { __VA_ARGS__ };                   \
    return test_main(tests_, sizeof tests_ / sizeof tests_[0], argc, argv); \
  }

#endif
