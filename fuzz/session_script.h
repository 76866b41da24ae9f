/* The script languages of the two state-machine harnesses, fuzz_parent and
 * fuzz_runner, shared with gen_corpus.c (which writes whole sessions as
 * seeds). An input is a short header and then operations: one opcode byte
 * each, followed by its operands. Every read past the end of the input
 * gives 0, so any byte string is a valid script. The layouts are described
 * at the top of fuzz_parent.c and fuzz_runner.c.
 *
 * Opcode byte: the low 5 bits pick the operation (modulo the count); bit 7
 * asks the harness to run one event-loop turn right after it (parent:
 * tether_parent_process; runner: one turn of the loop).
 */
#ifndef TETHER_FUZZ_SESSION_SCRIPT_H
#define TETHER_FUZZ_SESSION_SCRIPT_H

#define FS_THEN_PROCESS 0x80u

/* Target selectors (runner frames built by fuzz_parent; frames built by
 * fuzz_runner): a byte below FS_SEL_RAW picks a known session (modulo their
 * count); these pick others. */
enum {
  FS_SEL_ZERO = 0xf0,    /* session 0 */
  FS_SEL_NEVER = 0xf1,   /* an id never used */
  FS_SEL_RAW = 0xf2      /* and above: a 32-bit id follows */
};

/* ---- fuzz_parent: the harness is the runner ---- */
enum {
  FP_SPAWN = 0,          /* flags, cap bytes...: tether_session_spawn */
  FP_WRITE,              /* rec, len: tether_session_write */
  FP_CLOSE_STDIN,        /* rec */
  FP_SIGNAL,             /* rec, sig, group */
  FP_TERMINATE,          /* rec, grace/10 */
  FP_STATUS,             /* rec */
  FP_FREE,               /* rec: tether_session_free */
  FP_PROCESS,            /* tether_parent_process */
  FP_R_SPAWNED,          /* sel, pid */
  FP_R_SPAWN_FAILED,     /* sel, stage, error, msglen, msg... */
  FP_R_OUTPUT,           /* sel, stream, len16: at the next offset */
  FP_R_OUTPUT_AT,        /* sel, stream, len16, offset mode (+u64) */
  FP_R_TRUNCATED,        /* sel, stream, dropped */
  FP_R_EXITED,           /* sel, flags (bit 5: neither code nor signal), code */
  FP_R_STATUS_REPLY,     /* sel, running */
  FP_R_CREDIT,           /* sel, stream, amount mode (+u64) */
  FP_R_ERROR,            /* sel, code, fatal, msglen, msg... */
  FP_R_GOODBYE,          /* sel */
  FP_R_HELLO,            /* a second Hello */
  FP_R_WRONG_WAY,        /* sel, which: a parent-to-runner body */
  FP_R_RAW,              /* len, bytes...: one frame with this payload */
  FP_R_RAW_HEADER,       /* 4 bytes: a bare frame header */
  FP_R_FLOOD,            /* sel, count, len: Output frames back to back */
  FP_R_EOF,              /* mode: close the runner's side (mid-frame or not) */
  FP_R_EMPTY_OUTPUT,     /* sel, stream: Output without data (hand-encoded) */
  FP_R_NONE_BODY,        /* sel: a frame without a body */
  FP_OP_COUNT
};

/* ---- fuzz_runner: the harness is the parent and the children ---- */
enum {
  FR_SPAWN = 0,          /* id sel, flags, cap, outcome */
  FR_STDIN,              /* sel, len: at the next offset */
  FR_STDIN_AT,           /* sel, len, offset (u64) */
  FR_STDIN_CLOSE,        /* sel */
  FR_RESIZE,             /* sel, rows16, cols16 */
  FR_SIGNAL,             /* sel, sig, group */
  FR_TERMINATE,          /* sel, grace/10 */
  FR_CREDIT,             /* sel, stream, amount mode (+u64) */
  FR_STATUS,             /* sel */
  FR_GOODBYE,            /* (session 0) */
  FR_ERROR,              /* sel, code, fatal */
  FR_HELLO,              /* a second Hello */
  FR_WRONG_WAY,          /* sel, which: a runner-to-parent body */
  FR_RAW,                /* len, bytes...: one frame with this payload */
  FR_RAW_HEADER,         /* 4 bytes */
  FR_NONE_BODY,          /* sel */
  FR_CHILD_WRITE,        /* proc, stream, len16: the child writes */
  FR_CHILD_EOF,          /* proc, stream: the child closes its end */
  FR_CHILD_EXIT,         /* proc, how, code: the child ends (pipes: per flags) */
  FR_CHILD_READ,         /* proc, n: the child reads up to n*64 stdin bytes */
  FR_CHILD_CLOSE_STDIN,  /* proc: the child closes its stdin */
  FR_TURN,               /* one loop turn */
  FR_TIME,               /* step: advance the clock, then a turn */
  FR_EOF,                /* the parent closes the connection (mid-frame or not) */
  FR_FLOOD,              /* proc, stream, count: child writes + turns */
  FR_OP_COUNT
};

/* fuzz_runner: Spawn outcome byte (operand of FR_SPAWN), read by the fake
 * process layer through argv[0]. */
enum {
  FR_OUT_FAIL = 0x01,         /* tether__session_start fails */
  FR_OUT_IGNORE_TERM = 0x02,  /* SIGTERM does not end the child */
  FR_OUT_GRANDCHILD = 0x04,   /* its pipes stay open after it exits */
  FR_OUT_PTY = 0x08           /* io_mode PTY */
};

#endif
