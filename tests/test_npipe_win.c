/* Windows transports: named pipes (server, client, names, DACL, client pid
 * check, deadlines), handle pairs over anonymous pipes (also inherited by a
 * child process), and the channel over both. */
#include "harness.h"

#include <aclapi.h>
#include <sddl.h>

#include "channel_send.h"
#include "transport/channel.h"
#include "transport/transport.h"

/* ---- helpers ---- */

static const char sandbox_sid[] = "S-1-5-21-1111-2222-3333-1001";

static void check_msg(const char *msg, const char *want) {
  if (!strstr(msg, want)) FAIL("message \"%s\" lacks \"%s\"", msg, want);
}

static void wide(const char *s, wchar_t *out, int n) {
  CHECK(MultiByteToWideChar(CP_UTF8, 0, s, -1, out, n) > 0);
}

/* A connected named-pipe pair: server end and client end. */
static void npipe_pair(tether_transport **srv_end, tether_transport **cli_end) {
  tether_npipe_server *s;
  CHECK_OK(tether_npipe_server_new(NULL, &s));
  CHECK_OK(tether_transport_npipe_connect(tether_npipe_server_name(s), 2000, cli_end));
  CHECK_OK(tether_npipe_server_accept(s, 2000, 0, srv_end));
  tether_npipe_server_free(s); /* connected instances outlive the server */
}

static int npipe_pair_fn(tether_transport **a, tether_transport **b) {
  npipe_pair(a, b);
  return 0;
}

typedef int (*pair_fn)(tether_transport **, tether_transport **);

/* Reads exactly n bytes from a blocking transport. */
static void read_exact(tether_transport *t, void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    long r = tether_transport_read(t, p, n);
    if (r <= 0) FAIL("read returned %ld (%s)", r, tether_err_name((int)r));
    p += r;
    n -= (size_t)r;
  }
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + seed * 17u + (i >> 9));
}

static size_t frame_size(unsigned i) { return 1 + (i * 97u) % 3000u; }

static int recv_wait(tether_channel *ch, const uint8_t **p, size_t *n) {
  for (;;) {
    int rc = tether_channel_recv(ch, p, n);
    if (rc != 0) return rc;
    rc = tether_transport_wait(tether_channel_transport(ch), 0, 5000);
    if (rc < 0) return rc;
  }
}

/* Starts this binary as `--helper NAME ARG1 ARG2` with inheritance on (the
 * handles to pass must be inheritable, all others are not). */
static PROCESS_INFORMATION spawn_helper(const char *name, const char *arg1, const char *arg2) {
  wchar_t exe[MAX_PATH * 4], cmd[MAX_PATH * 8];
  char tail[1024];
  DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH * 4);
  CHECK(n > 0 && n < MAX_PATH * 4);
  snprintf(tail, sizeof tail, " --helper %s \"%s\" \"%s\"", name, arg1 ? arg1 : "",
           arg2 ? arg2 : "");
  wchar_t wtail[1024];
  wide(tail, wtail, 1024);
  _snwprintf(cmd, MAX_PATH * 8, L"\"%ls\"%ls", exe, wtail);
  STARTUPINFOW si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  PROCESS_INFORMATION pi;
  if (!CreateProcessW(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
    FAIL("CreateProcessW failed (error %lu)", GetLastError());
  CloseHandle(pi.hThread);
  return pi;
}

static DWORD wait_exit(HANDLE process) {
  DWORD code = 99;
  CHECK_EQ_INT(WaitForSingleObject(process, 20000), WAIT_OBJECT_0);
  GetExitCodeProcess(process, &code);
  CloseHandle(process);
  return code;
}

/* ---- names ---- */

TEST(names_random_and_unique) {
  enum { N = 64 };
  static char names[N][128];
  char prefix[64];
  snprintf(prefix, sizeof prefix, "\\\\.\\pipe\\tether-%lu-", GetCurrentProcessId());
  int hexseen[16] = { 0 };
  for (int i = 0; i < N; i++) {
    tether_npipe_server *s;
    CHECK_OK(tether_npipe_server_new(NULL, &s));
    const char *name = tether_npipe_server_name(s);
    CHECK(strlen(name) < sizeof names[i]);
    strcpy(names[i], name);
    tether_npipe_server_free(s);
    /* \\.\pipe\tether-<pid>-<32 lowercase hex digits> */
    CHECK(strncmp(names[i], prefix, strlen(prefix)) == 0);
    const char *hex = names[i] + strlen(prefix);
    CHECK_EQ_INT(strlen(hex), 32);
    for (const char *c = hex; *c; c++) {
      const char *d = strchr("0123456789abcdef", *c);
      if (!d || !*c) FAIL("name %s: '%c' is not a hex digit", names[i], *c);
      hexseen[d - "0123456789abcdef"]++;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0) FAIL("name %s came twice", names[i]);
  }
  /* 64 x 128 random bits: every hex digit shows up (p of failing ~ 1e-30). */
  for (int d = 0; d < 16; d++) CHECK(hexseen[d] > 0);
}

TEST(bad_names_and_options) {
  tether_transport *t = (tether_transport *)1;
  tether_npipe_server *s = (tether_npipe_server *)1;
  tether_npipe_options o;
  CHECK_EQ_INT(tether_transport_npipe_connect("tether", 0, &t), TETHER_EADDRESS);
  CHECK(t == NULL);
  CHECK_EQ_INT(tether_transport_npipe_connect("\\\\.\\pipe\\", 0, &t), TETHER_EADDRESS);
  CHECK_EQ_INT(tether_transport_npipe_connect(NULL, 0, &t), TETHER_EADDRESS);
  CHECK_EQ_INT(tether_transport_npipe_connect("\\\\host\\pipe\\x", 0, &t), TETHER_EADDRESS);
  tether_npipe_options_init(&o);
  o.name = "\\\\host\\pipe\\remote";
  CHECK_EQ_INT(tether_npipe_server_new(&o, &s), TETHER_EADDRESS);
  CHECK(s == NULL);
  tether_npipe_options_init(&o);
  o.extra_sid = "not-a-sid";
  CHECK_EQ_INT(tether_npipe_server_new(&o, &s), TETHER_EINVAL);
  tether_npipe_options_init(&o);
  o.max_instances = 0;
  CHECK_EQ_INT(tether_npipe_server_new(&o, &s), TETHER_EINVAL);
  o.max_instances = 256;
  CHECK_EQ_INT(tether_npipe_server_new(&o, &s), TETHER_EINVAL);
  tether_npipe_server_free(NULL);
}

/* FILE_FLAG_FIRST_PIPE_INSTANCE: a name that exists is never joined. */
TEST(existing_name_refused) {
  tether_npipe_server *a, *b = (tether_npipe_server *)1;
  tether_npipe_options o;
  CHECK_OK(tether_npipe_server_new(NULL, &a));
  tether_npipe_options_init(&o);
  o.name = tether_npipe_server_name(a);
  o.max_instances = 4;
  CHECK_EQ_INT(tether_npipe_server_new(&o, &b), TETHER_EADDRINUSE);
  CHECK(b == NULL);
  tether_npipe_server_free(a);
}

/* ---- connecting ---- */

TEST(round_trip) {
  tether_transport *srv, *cli;
  npipe_pair(&srv, &cli);
  CHECK_EQ_STR(srv->vt->name, "npipe");
  char buf[16];
  CHECK_OK(tether_transport_write_all(cli, "hello", 5, 2000));
  read_exact(srv, buf, 5);
  CHECK_EQ_MEM(buf, 5, "hello", 5);
  CHECK_OK(tether_transport_write_all(srv, "world!", 6, 2000));
  read_exact(cli, buf, 6);
  CHECK_EQ_MEM(buf, 6, "world!", 6);
  /* Non-blocking: nothing there is TETHER_EAGAIN, and the wait times out. */
  CHECK_OK(srv->vt->set_nonblocking(srv, 1));
  CHECK_EQ_INT(tether_transport_read(srv, buf, sizeof buf), TETHER_EAGAIN);
  uint64_t t0 = test_now_ms();
  CHECK_EQ_INT(tether_transport_wait(srv, 0, 150), TETHER_ETIMEDOUT);
  CHECK(test_now_ms() - t0 >= 100);
  CHECK_OK(tether_transport_wait(srv, 1, 0)); /* nothing in flight: writable */
  /* Bytes arriving make the read handle signalled. */
  CHECK_OK(tether_transport_write_all(cli, "x", 1, 2000));
  CHECK_OK(tether_transport_wait(srv, 0, 2000));
  CHECK_EQ_INT(tether_transport_read(srv, buf, sizeof buf), 1);
  CHECK_EQ_INT(buf[0], 'x');
  /* Closing one end: the other reads end of stream, writes fail. */
  tether_transport_free(cli);
  CHECK_OK(tether_transport_wait(srv, 0, 2000));
  CHECK_EQ_INT(tether_transport_read(srv, buf, sizeof buf), 0);
  CHECK_EQ_INT(tether_transport_read(srv, buf, sizeof buf), 0);
  long w = tether_transport_write(srv, "y", 1);
  if (w == 1) w = tether_transport_write(srv, "y", 1); /* may be taken first */
  CHECK(w == TETHER_ECLOSED || w == TETHER_EAGAIN);
  CHECK_EQ_INT(srv->vt->shutdown_write(srv), TETHER_EUNSUPPORTED);
  tether_transport_free(srv);
}

TEST(connect_deadline) {
  char name[128];
  tether_transport *t;
  snprintf(name, sizeof name, "\\\\.\\pipe\\tether-test-missing-%lu", GetCurrentProcessId());
  uint64_t t0 = test_now_ms();
  CHECK_EQ_INT(tether_transport_npipe_connect(name, 300, &t), TETHER_ETIMEDOUT);
  uint64_t took = test_now_ms() - t0;
  if (took < 250 || took > 3000) FAIL("deadline of 300 ms took %llu ms", (unsigned long long)took);
  t0 = test_now_ms();
  CHECK_EQ_INT(tether_transport_npipe_connect(name, 0, &t), TETHER_ETIMEDOUT);
  CHECK(test_now_ms() - t0 < 1000);
}

static DWORD WINAPI late_server(void *arg) {
  tether_npipe_server **s = arg;
  Sleep(300);
  tether_npipe_options o;
  tether_npipe_options_init(&o);
  o.name = "\\\\.\\pipe\\tether-test-late";
  return tether_npipe_server_new(&o, s) == 0 ? 0 : 1;
}

/* A server that appears later is found before the deadline. */
TEST(connect_waits_for_server) {
  tether_npipe_server *s = NULL;
  tether_transport *cli, *srv;
  HANDLE th = CreateThread(NULL, 0, late_server, &s, 0, NULL);
  CHECK(th != NULL);
  CHECK_OK(tether_transport_npipe_connect("\\\\.\\pipe\\tether-test-late", 10000, &cli));
  CHECK_EQ_INT(WaitForSingleObject(th, 5000), WAIT_OBJECT_0);
  CloseHandle(th);
  CHECK(s != NULL);
  CHECK_OK(tether_npipe_server_accept(s, 2000, 0, &srv));
  CHECK_OK(tether_transport_write_all(cli, "late", 4, 2000));
  char buf[4];
  read_exact(srv, buf, 4);
  CHECK_EQ_MEM(buf, 4, "late", 4);
  tether_transport_free(cli);
  tether_transport_free(srv);
  tether_npipe_server_free(s);
}

/* An accept that times out keeps listening; its event fires on a client. */
TEST(accept_timeout_then_client) {
  tether_npipe_server *s;
  tether_transport *srv = (tether_transport *)1, *cli;
  CHECK_OK(tether_npipe_server_new(NULL, &s));
  CHECK_EQ_INT(tether_npipe_server_accept(s, 100, 0, &srv), TETHER_ETIMEDOUT);
  CHECK(srv == NULL);
  CHECK_EQ_INT(WaitForSingleObject(tether_npipe_server_handle(s), 0), WAIT_TIMEOUT);
  CHECK_OK(tether_transport_npipe_connect(tether_npipe_server_name(s), 2000, &cli));
  CHECK_EQ_INT(WaitForSingleObject(tether_npipe_server_handle(s), 2000), WAIT_OBJECT_0);
  CHECK_OK(tether_npipe_server_accept(s, 0, 0, &srv));
  /* max_instances 1 and that one is taken: nobody else gets in. */
  tether_transport *other = NULL;
  CHECK_EQ_INT(tether_transport_npipe_connect(tether_npipe_server_name(s), 0, &other),
               TETHER_ETIMEDOUT);
  CHECK_EQ_INT(tether_npipe_server_accept(s, 0, 0, &other), TETHER_ESTATE);
  check_msg(tether_npipe_server_error(s), "instances");
  tether_transport_free(cli);
  tether_transport_free(srv);
  tether_npipe_server_free(s);
}

/* ---- the client's process id ---- */

TEST(pid_mismatch_rejected) {
  tether_npipe_server *s;
  tether_transport *srv = (tether_transport *)1, *cli;
  CHECK_OK(tether_npipe_server_new(NULL, &s));
  CHECK_OK(tether_transport_npipe_connect(tether_npipe_server_name(s), 2000, &cli));
  unsigned long wrong = GetCurrentProcessId() + 4; /* pids are multiples of 4 */
  CHECK_EQ_INT(tether_npipe_server_accept(s, 2000, wrong, &srv), TETHER_EPROTOCOL);
  CHECK(srv == NULL);
  check_msg(tether_npipe_server_error(s), "rejected");
  char want[32];
  snprintf(want, sizeof want, "expected %lu", wrong);
  check_msg(tether_npipe_server_error(s), want);
  /* The rejected client is cut off. */
  char b;
  long r = tether_transport_read(cli, &b, 1);
  CHECK(r == 0 || r == TETHER_ECLOSED);
  tether_transport_free(cli);
  /* The server listens again: the right client (this process) gets in. */
  CHECK_OK(tether_transport_npipe_connect(tether_npipe_server_name(s), 2000, &cli));
  CHECK_OK(tether_npipe_server_accept(s, 2000, GetCurrentProcessId(), &srv));
  tether_transport_free(srv);
  tether_transport_free(cli);
  tether_npipe_server_free(s);
}

HELPER(connect) {
  tether_transport *t;
  if (argc < 2) return 2;
  int rc = tether_transport_npipe_connect(argv[1], 10000, &t);
  if (rc < 0) return 3;
  char b;
  while (tether_transport_read(t, &b, 1) > 0) {
  }
  tether_transport_free(t);
  return 0;
}

/* A client in another process, expected by pid: accepted on Windows. */
TEST(pid_of_child_accepted) {
  tether_npipe_server *s;
  tether_transport *srv = NULL;
  CHECK_OK(tether_npipe_server_new(NULL, &s));
  PROCESS_INFORMATION pi = spawn_helper("connect", tether_npipe_server_name(s), NULL);
  CHECK_OK(tether_npipe_server_accept(s, 10000, pi.dwProcessId, &srv));
  /* The helper reads until we close: it was the one let in. */
  tether_transport_free(srv);
  CHECK_EQ_INT(wait_exit(pi.hProcess), 0);
  tether_npipe_server_free(s);
}

/* A different process than the expected one (here: expecting ourselves)
 * is turned away, and the message names it. */
TEST(pid_of_other_process_rejected) {
  tether_npipe_server *s;
  tether_transport *srv = (tether_transport *)1;
  CHECK_OK(tether_npipe_server_new(NULL, &s));
  PROCESS_INFORMATION pi = spawn_helper("connect", tether_npipe_server_name(s), NULL);
  CHECK_EQ_INT(tether_npipe_server_accept(s, 10000, GetCurrentProcessId(), &srv),
               TETHER_EPROTOCOL);
  CHECK(srv == NULL);
  char want[48];
  snprintf(want, sizeof want, "client process id %lu is not", pi.dwProcessId);
  check_msg(tether_npipe_server_error(s), want);
  CHECK_EQ_INT(wait_exit(pi.hProcess), 0); /* it read end of stream */
  tether_npipe_server_free(s);
}

/* ---- the DACL ---- */

static void check_dacl(const char *extra) {
  tether_npipe_server *s;
  tether_npipe_options o;
  tether_npipe_options_init(&o);
  o.extra_sid = extra;
  CHECK_OK(tether_npipe_server_new(&o, &s));
  wchar_t wname[300];
  wide(tether_npipe_server_name(s), wname, 300);
  HANDLE h = CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  CHECK(h != INVALID_HANDLE_VALUE);

  PSID owner = NULL;
  PACL dacl = NULL;
  PSECURITY_DESCRIPTOR sd = NULL;
  CHECK_EQ_INT(GetSecurityInfo(h, SE_KERNEL_OBJECT,
                               DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION, &owner,
                               NULL, &dacl, NULL, &sd),
               ERROR_SUCCESS);
  CHECK(dacl != NULL);

  HANDLE tok;
  CHECK(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok));
  union { TOKEN_USER tu; char buf[512]; } u;
  DWORD len;
  CHECK(GetTokenInformation(tok, TokenUser, &u, sizeof u, &len));
  CloseHandle(tok);
  PSID me = u.tu.User.Sid;
  CHECK(owner && EqualSid(owner, me));

  PSID other = NULL;
  if (extra) CHECK(ConvertStringSidToSidA(extra, &other));
  CHECK_EQ_INT(dacl->AceCount, extra ? 2 : 1);
  for (WORD i = 0; i < dacl->AceCount; i++) {
    ACCESS_ALLOWED_ACE *ace;
    CHECK(GetAce(dacl, i, (void **)&ace));
    CHECK_EQ_INT(ace->Header.AceType, ACCESS_ALLOWED_ACE_TYPE);
    PSID sid = (PSID)&ace->SidStart;
    if (EqualSid(sid, me)) {
      CHECK_EQ_INT(ace->Mask & FILE_ALL_ACCESS, FILE_ALL_ACCESS);
    } else if (other && EqualSid(sid, other)) {
      CHECK(ace->Mask & FILE_READ_DATA);
      CHECK(ace->Mask & FILE_WRITE_DATA);
      CHECK(!(ace->Mask & FILE_CREATE_PIPE_INSTANCE)); /* no squatting instances */
    } else {
      char *str = NULL;
      ConvertSidToStringSidA(sid, &str);
      FAIL("unexpected ACE for %s", str ? str : "?");
    }
  }
  SECURITY_DESCRIPTOR_CONTROL ctl = 0;
  DWORD rev;
  CHECK(GetSecurityDescriptorControl(sd, &ctl, &rev));
  CHECK(ctl & SE_DACL_PRESENT);
  if (other) LocalFree(other);
  LocalFree(sd);
  CloseHandle(h);
  tether_npipe_server_free(s);
}

TEST(dacl_current_user_only) { check_dacl(NULL); }
TEST(dacl_with_extra_sid) { check_dacl(sandbox_sid); }

/* ---- the channel over the Windows transports ---- */

static void many_frames(pair_fn make) {
  tether_transport *ta, *tb;
  tether_channel *a, *b;
  CHECK_OK(make(&ta, &tb));
  CHECK_OK(tether_channel_new(ta, NULL, &a));
  CHECK_OK(tether_channel_new(tb, NULL, &b));
  const unsigned N = 2000;
  uint8_t want[3001];
  unsigned sent = 0, got = 0;
  while (got < N) {
    while (sent < N) {
      size_t n = frame_size(sent);
      fill(want, n, sent);
      int rc = channel_send(a, want, n);
      if (rc == TETHER_EAGAIN) break;
      CHECK_OK(rc);
      sent++;
    }
    int rc = tether_channel_flush(a);
    CHECK(rc == 0 || rc == TETHER_EAGAIN);
    const uint8_t *p;
    size_t n;
    int progressed = 0;
    while ((rc = tether_channel_recv(b, &p, &n)) == 1) {
      size_t wn = frame_size(got);
      fill(want, wn, got);
      CHECK_EQ_MEM(p, n, want, wn);
      got++;
      progressed = 1;
    }
    CHECK_EQ_INT(rc, 0);
    if (!progressed) { /* let the bytes in flight land */
      HANDLE hs[2] = { tether_channel_read_handle(b), tether_channel_write_handle(a) };
      WaitForMultipleObjects(2, hs, FALSE, 100);
    }
  }
  CHECK_OK(tether_channel_flush_wait(a, 5000));
  CHECK_EQ_INT(tether_channel_pending(a), 0);
  CHECK_OK(channel_send(b, (const uint8_t *)"bye", 3));
  CHECK_OK(tether_channel_flush_wait(b, 5000));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(a, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "bye", 3);
  tether_channel_free(b);
  CHECK_EQ_INT(recv_wait(a, &p, &n), TETHER_ECLOSED);
  check_msg(tether_channel_error(a), "closed the connection");
  tether_channel_free(a);
}

TEST(channel_many_frames_npipe) { many_frames(npipe_pair_fn); }
TEST(channel_many_frames_handle_pair) { many_frames(tether_transport_handle_pipe_pair); }

/* 1 MiB frames both ways at once: neither side finishes unless flush and
 * recv interleave and the transports report partial writes honestly. */
static void large_frames(pair_fn make) {
  enum { BIG = 1 << 20 };
  tether_transport *ta, *tb;
  tether_channel *ch[2];
  CHECK_OK(make(&ta, &tb));
  CHECK_OK(tether_channel_new(ta, NULL, &ch[0]));
  CHECK_OK(tether_channel_new(tb, NULL, &ch[1]));
  uint8_t *big = malloc(BIG);
  CHECK(big != NULL);
  fill(big, BIG, 7);
  CHECK_OK(channel_send(ch[0], big, BIG));
  CHECK_OK(channel_send(ch[1], big, BIG));
  int got[2] = { 0, 0 };
  uint64_t deadline = test_now_ms() + 30000;
  while (!got[0] || !got[1]) {
    if (test_now_ms() > deadline) FAIL("1 MiB frames did not cross in 30 s");
    for (int i = 0; i < 2; i++) {
      int rc = tether_channel_flush(ch[i]);
      CHECK(rc == 0 || rc == TETHER_EAGAIN);
      const uint8_t *p;
      size_t n;
      rc = tether_channel_recv(ch[i], &p, &n);
      CHECK(rc == 0 || rc == 1);
      if (rc == 1) {
        CHECK_EQ_MEM(p, n, big, BIG);
        got[i] = 1;
      }
    }
    HANDLE hs[4] = { tether_channel_read_handle(ch[0]), tether_channel_read_handle(ch[1]),
                     tether_channel_write_handle(ch[0]), tether_channel_write_handle(ch[1]) };
    WaitForMultipleObjects(4, hs, FALSE, 50);
  }
  free(big);
  tether_channel_free(ch[0]);
  tether_channel_free(ch[1]);
}

TEST(channel_large_frames_npipe) { large_frames(npipe_pair_fn); }
TEST(channel_large_frames_handle_pair) { large_frames(tether_transport_handle_pipe_pair); }

static void closes_mid_frame(pair_fn make) {
  tether_transport *raw, *t;
  tether_channel *ch;
  CHECK_OK(make(&raw, &t));
  CHECK_OK(tether_channel_new(t, NULL, &ch));
  uint8_t hdr[4];
  tether_frame_header_put(hdr, 100);
  CHECK_OK(tether_transport_write_all(raw, tether_preface, TETHER_PREFACE_LEN, 2000));
  CHECK_OK(tether_transport_write_all(raw, hdr, 4, 2000));
  CHECK_OK(tether_transport_write_all(raw, "0123456789", 10, 2000));
  tether_transport_free(raw);
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_ETRUNCATED);
  check_msg(tether_channel_error(ch), "10 of 100 bytes");
  CHECK_EQ_INT(tether_channel_recv(ch, &p, &n), TETHER_ETRUNCATED); /* sticky */
  tether_channel_free(ch);
}

TEST(peer_closes_mid_frame_npipe) { closes_mid_frame(npipe_pair_fn); }
TEST(peer_closes_mid_frame_handle_pair) { closes_mid_frame(tether_transport_handle_pipe_pair); }

/* ---- handle pairs ---- */

TEST(handle_pair_basics) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_handle_pipe_pair(&a, &b));
  CHECK_EQ_STR(a->vt->name, "handle");
  char buf[8];
  CHECK_OK(tether_transport_write_all(a, "ping", 4, 2000));
  read_exact(b, buf, 4);
  CHECK_EQ_MEM(buf, 4, "ping", 4);
  CHECK_OK(b->vt->set_nonblocking(b, 1));
  CHECK_EQ_INT(tether_transport_read(b, buf, sizeof buf), TETHER_EAGAIN);
  CHECK_EQ_INT(tether_transport_wait(b, 0, 100), TETHER_ETIMEDOUT);
  /* A real half-close: b reads end of stream, a can still read b's bytes. */
  CHECK_OK(tether_transport_write_all(a, "last", 4, 2000));
  CHECK_OK(a->vt->shutdown_write(a));
  CHECK_EQ_INT(tether_transport_write(a, "x", 1), TETHER_ECLOSED);
  CHECK_OK(tether_transport_wait(b, 0, 2000));
  read_exact(b, buf, 4);
  CHECK_EQ_MEM(buf, 4, "last", 4);
  CHECK_OK(tether_transport_wait(b, 0, 2000));
  CHECK_EQ_INT(tether_transport_read(b, buf, sizeof buf), 0);
  CHECK_OK(tether_transport_write_all(b, "back", 4, 2000));
  read_exact(a, buf, 4);
  CHECK_EQ_MEM(buf, 4, "back", 4);
  /* Freed while its reader thread is blocked: no hang. */
  uint64_t t0 = test_now_ms();
  tether_transport_free(a);
  CHECK(test_now_ms() - t0 < 3000);
  tether_transport_free(b);
}

TEST(handle_new_rejects_and_disinherits) {
  tether_transport *t = (tether_transport *)1;
  CHECK_EQ_INT(tether_transport_handle_new(NULL, NULL, &t), TETHER_EINVAL);
  CHECK(t == NULL);
  SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
  HANDLE r, w;
  CHECK(CreatePipe(&r, &w, &sa, 0));
  DWORD fl = 0;
  CHECK(GetHandleInformation(r, &fl) && (fl & HANDLE_FLAG_INHERIT));
  CHECK_OK(tether_transport_handle_new(r, w, &t));
  CHECK(GetHandleInformation(r, &fl) && !(fl & HANDLE_FLAG_INHERIT));
  CHECK(GetHandleInformation(w, &fl) && !(fl & HANDLE_FLAG_INHERIT));
  tether_transport_free(t);
}

/* The child side of inherited_handles: wraps the two inherited handles,
 * echoes every frame back, exits 0 at a clean end of stream. */
HELPER(echo) {
  if (argc < 3) return 2;
  HANDLE r = (HANDLE)(uintptr_t)strtoull(argv[1], NULL, 10);
  HANDLE w = (HANDLE)(uintptr_t)strtoull(argv[2], NULL, 10);
  tether_transport *t;
  tether_channel *ch;
  if (tether_transport_handle_new(r, w, &t) < 0) return 3;
  if (tether_channel_new(t, NULL, &ch) < 0) return 4;
  for (;;) {
    const uint8_t *p;
    size_t n;
    int rc = recv_wait(ch, &p, &n);
    if (rc == TETHER_ECLOSED) break;
    if (rc != 1) return 5;
    if (channel_send(ch, p, n) < 0 || tether_channel_flush_wait(ch, 5000) < 0) return 6;
  }
  tether_channel_free(ch);
  return 0;
}

/* Anonymous pipes inherited by a child process (how a runner may be
 * started), a channel over them on both sides. */
TEST(inherited_handles) {
  SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
  HANDLE to_r, to_w, from_r, from_w;
  CHECK(CreatePipe(&to_r, &to_w, &sa, 0));
  CHECK(CreatePipe(&from_r, &from_w, &sa, 0));
  /* Our ends must not leak into the child, or it never sees end of stream. */
  SetHandleInformation(to_w, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(from_r, HANDLE_FLAG_INHERIT, 0);
  char r_arg[32], w_arg[32];
  snprintf(r_arg, sizeof r_arg, "%llu", (unsigned long long)(uintptr_t)to_r);
  snprintf(w_arg, sizeof w_arg, "%llu", (unsigned long long)(uintptr_t)from_w);
  PROCESS_INFORMATION pi = spawn_helper("echo", r_arg, w_arg);
  CloseHandle(to_r);
  CloseHandle(from_w);

  tether_transport *t;
  tether_channel *ch;
  CHECK_OK(tether_transport_handle_new(from_r, to_w, &t));
  CHECK_OK(tether_channel_new(t, NULL, &ch));
  uint8_t want[3001];
  for (unsigned i = 0; i < 200; i++) {
    size_t n = frame_size(i * 7);
    fill(want, n, i);
    CHECK_OK(channel_send(ch, want, n));
    CHECK_OK(tether_channel_flush_wait(ch, 5000));
    const uint8_t *p;
    size_t got;
    CHECK_EQ_INT(recv_wait(ch, &p, &got), 1);
    CHECK_EQ_MEM(p, got, want, n);
  }
  CHECK_OK(tether_channel_shutdown_write(ch));
  CHECK_OK(tether_channel_flush_wait(ch, 5000));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_ECLOSED); /* the child saw EOF and left */
  CHECK_EQ_INT(wait_exit(pi.hProcess), 0);
  tether_channel_free(ch);
}

TEST_MAIN(TEST_ENTRY(names_random_and_unique), TEST_ENTRY(bad_names_and_options),
          TEST_ENTRY(existing_name_refused), TEST_ENTRY(round_trip),
          TEST_ENTRY(connect_deadline), TEST_ENTRY(connect_waits_for_server),
          TEST_ENTRY(accept_timeout_then_client), TEST_ENTRY(pid_mismatch_rejected),
          TEST_ENTRY(pid_of_child_accepted), TEST_ENTRY(pid_of_other_process_rejected),
          TEST_ENTRY(dacl_current_user_only),
          TEST_ENTRY(dacl_with_extra_sid), TEST_ENTRY(channel_many_frames_npipe),
          TEST_ENTRY(channel_many_frames_handle_pair), TEST_ENTRY(channel_large_frames_npipe),
          TEST_ENTRY(channel_large_frames_handle_pair), TEST_ENTRY(peer_closes_mid_frame_npipe),
          TEST_ENTRY(peer_closes_mid_frame_handle_pair), TEST_ENTRY(handle_pair_basics),
          TEST_ENTRY(handle_new_rejects_and_disinherits), TEST_ENTRY(inherited_handles),
          HELPER_ENTRY(connect), HELPER_ENTRY(echo))
