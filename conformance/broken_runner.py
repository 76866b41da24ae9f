#!/usr/bin/python3
"""A deliberately broken runner: the Python example runner
(examples/python-runner/runner.py) with one behaviour broken on purpose, so
tests can prove that tether-conformance notices exactly that.

    broken_runner.py --break MODE [--break MODE...] --stdio [runner options]

Modes:
  stderr-offset      every stderr Output carries offset + 1 (an offset gap)
  no-unsupported     frames with an unknown body get no Error{UNSUPPORTED}
  exit-before-drain  output past the first 64 KiB of a stream is held back
                     and sent after Exited (Exited before the output drained)
  no-goodbye         the runner does not answer the parent's Goodbye
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "python-runner"))
import runner as base  # noqa: E402

MODES = {"stderr-offset", "no-unsupported", "exit-before-drain", "no-goodbye"}
HOLD_AFTER = 64 << 10


class BrokenRunner(base.Runner):
    name = "tether-broken-runner"
    breaks = set()

    def output_offset(self, s, st):
        off = super().output_offset(s, st)
        if "stderr-offset" in self.breaks and st.kind == base.pb.STREAM_STDERR:
            off += 1
        return off

    def on_unknown_body(self, f):
        if "no-unsupported" in self.breaks:
            return
        super().on_unknown_body(f)

    def send_output(self, s, st, data):
        held = s.__dict__.setdefault("held", [])
        if "exit-before-drain" in self.breaks and (st.sent + len(data) > HOLD_AFTER):
            held.append((st.kind, bytes(data), self.output_offset(s, st)))
            st.sent += len(data)
            return
        super().send_output(s, st, data)

    def send_exited(self, s):
        super().send_exited(s)
        for kind, data, off in getattr(s, "held", []):
            self.frame(s.sid, "output", stream=kind, data=data, offset=off)

    def frame(self, sid, body, **fields):
        if body == "goodbye" and "no-goodbye" in self.breaks:
            return None
        return super().frame(sid, body, **fields)


def main():
    argv = sys.argv[1:]
    rest = []
    i = 0
    while i < len(argv):
        if argv[i] == "--break" and i + 1 < len(argv):
            if argv[i + 1] not in MODES:
                sys.exit("broken_runner.py: unknown --break %s (modes: %s)" % (argv[i + 1], ", ".join(sorted(MODES))))
            BrokenRunner.breaks.add(argv[i + 1])
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return base.main(BrokenRunner, rest)


if __name__ == "__main__":
    sys.exit(main())
