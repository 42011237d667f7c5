// The one way hosa opens an input file (recording, baseline, config, decision
// log): refuse what is not a regular file before reading it, cap what is read,
// and never echo more of the input than a short, escaped excerpt. See
// docs/robustness.md.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { EXIT, HosaError } from "../errors.ts";

/** Size limits, in bytes, of what each reader will take in. */
export const INPUT_LIMITS = {
  recording: 1 << 30,
  baseline: 64 << 20,
  config: 1 << 20,
  decisionLog: 1 << 30,
} as const;

/**
 * A FIFO or pipe that brings no byte for this long is refused (a FIFO nobody
 * writes to would hang for ever); HOSA_PIPE_IDLE_MS sets another wait.
 */
export function pipeIdleMs(): number {
  const v = Number(process.env.HOSA_PIPE_IDLE_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

export interface ReadInputOptions {
  /** The failed action, first words of every error: "cannot read recording". The path follows. */
  action: string;
  maxBytes: number;
  exitCode?: number;
  /** "-" reads standard input (a file or a pipe it is redirected from). Default true. */
  allowStdin?: boolean;
  pipeIdleMs?: number;
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: "no such file",
  ENOTDIR: "no such file (a component of the path is not a directory)",
  ELOOP: "too many levels of symbolic links (a symlink loop?)",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENAMETOOLONG: "file name too long",
  EISDIR: "is a directory",
  EIO: "input/output error",
  ENXIO: "no such device or address",
};

/** An errno as words: "no such file", "permission denied"... */
export function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code && ERRNO_WORDS[code]) return ERRNO_WORDS[code]!;
  return code ?? escapeControl(String((e as Error)?.message ?? e).split("\n")[0]!.slice(0, 200));
}

/**
 * False when nothing is at `path` (ENOENT); throws one line with the reason
 * when it cannot be looked at (a symlink loop, permission denied), which
 * `existsSync` would also call "missing".
 */
export function inputExists(path: string, action: string, exitCode: number = EXIT.INPUT): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === "ENOENT") return false;
    throw new HosaError(`${action} ${shownPath(path)}: ${errnoWords(e)}`, exitCode);
  }
}

/** Control characters (C0, DEL, C1) and lone line breaks as visible escapes, so input never drives the terminal. */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Text read from an input (a log's fields) for the terminal: line breaks kept, every other control character escaped. */
export function escapeControlKeepLines(s: string): string {
  return s.split("\n").map(escapeControl).join("\n");
}

/** At most `max` characters of an input cell or line, escaped, with how much was left out. */
export function excerpt(s: string, max = 40): string {
  const cut = s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
  return escapeControl(cut);
}

/** The path as shown in an error: escaped, and shortened when absurdly long. */
export function shownPath(path: string): string {
  return excerpt(path, 300);
}

function kindOf(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return "is a directory";
  if (st.isCharacterDevice()) return "is a character device, not a regular file";
  if (st.isBlockDevice()) return "is a block device, not a regular file";
  if (st.isSocket()) return "is a socket, not a regular file";
  if (st.isFIFO()) return "fifo";
  return "is not a regular file";
}

const MAGIC: [string, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["zip", [0x50, 0x4b, 0x03, 0x04]],
];

/** "gzip" when the bytes start like a compressed file, else null. */
export function compression(bytes: Uint8Array): string | null {
  for (const [name, m] of MAGIC) if (bytes.length >= m.length && m.every((b, i) => bytes[i] === b)) return name;
  return null;
}

/** Text that is not text: a NUL byte, or bytes that are not UTF-8, in the first 64 KiB. */
export function looksBinary(bytes: Uint8Array): boolean {
  const probe = bytes.subarray(0, Math.min(bytes.length, 1 << 16));
  if (probe.includes(0)) return true;
  try {
    // A multi-byte sequence cut at the probe's end is not an error: stream mode.
    new TextDecoder("utf-8", { fatal: true }).decode(probe, { stream: probe.length < bytes.length });
    return false;
  } catch {
    return true;
  }
}

/** Decode UTF-8 or refuse: invalid bytes become an error naming the first bad line, not U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, fail: (what: string) => never): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    let line = 1;
    // Find the first bad line by decoding line by line (only on this error path).
    let start = 0;
    const dec = new TextDecoder("utf-8", { fatal: true });
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          dec.decode(bytes.subarray(start, i));
        } catch {
          return fail(`line ${line}: not UTF-8 text`);
        }
        line++;
        start = i + 1;
      }
    }
    return fail("not UTF-8 text");
  }
}

/**
 * Read a whole input into memory, within `maxBytes`. A regular file is read
 * to its end (sizes in /proc lie, so the cap is on bytes read, not on st_size
 * alone); a FIFO or pipe (`-` from a pipe, `<(zcat …)`) is read without
 * blocking, and refused when no byte comes for `pipeIdleMs`; anything else
 * (directory, device, socket) is refused before a byte is read.
 */
export function readInput(path: string, opts: ReadInputOptions): Uint8Array {
  const exitCode = opts.exitCode ?? EXIT.INPUT;
  const fail = (what: string): never => {
    throw new HosaError(`${opts.action} ${shownPath(path)}: ${what}`, exitCode);
  };
  if (path === "") fail("empty file name");
  const stdin = path === "-" && opts.allowStdin !== false;
  let st: Stats;
  try {
    st = stdin ? fstatSync(0) : statSync(path);
  } catch (e) {
    return fail(errnoWords(e));
  }
  const kind = kindOf(st);
  if (stdin && st.isCharacterDevice() && process.stdin.isTTY) fail("standard input is a terminal: redirect a file or a pipe into it");
  if (kind !== null && kind !== "fifo") fail(kind);
  if (kind === null && st.size > opts.maxBytes) fail(`${st.size} bytes, more than the limit of ${opts.maxBytes}`);
  let fd: number;
  let owned = true;
  if (stdin) {
    fd = 0;
    owned = false;
  } else {
    try {
      // O_NONBLOCK: opening a FIFO without a writer would block; on a regular file it changes nothing.
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (e) {
      return fail(errnoWords(e));
    }
  }
  try {
    // Between stat and open the file may have been swapped: check what was opened.
    const fst = fstatSync(fd);
    const k = kindOf(fst);
    if (k !== null && k !== "fifo") fail(k);
    if (kind === null && k === null) return readRegular(fd, opts.maxBytes, fail, fst.size);
    // An anonymous pipe (stdin, /dev/fd/N from `<(…)`) had its writer from the start: its first 0 is the end.
    const anonymous = stdin || /^\/dev\/stdin$|^\/(dev|proc\/self)\/fd\//.test(path);
    return readPipe(fd, opts.maxBytes, opts.pipeIdleMs ?? pipeIdleMs(), anonymous, fail);
  } finally {
    if (owned) closeSync(fd);
  }
}

function readRegular(fd: number, maxBytes: number, fail: (what: string) => never, sizeHint = 0): Uint8Array {
  // The size fstat gave, plus one byte to see the end, read into one buffer:
  // a recording of 76 MB was read in 1 MiB chunks and then copied whole.
  // A file that grew since is read on in chunks, as before.
  const first = Buffer.allocUnsafe(Math.min(sizeHint + 1, maxBytes + 1) || 1);
  let filled = 0;
  while (filled < first.length) {
    let n: number;
    try {
      n = readSync(fd, first, filled, first.length - filled, null);
    } catch (e) {
      return fail(errnoWords(e));
    }
    if (n === 0) break;
    filled += n;
  }
  if (filled > maxBytes) fail(`more than the limit of ${maxBytes} bytes`);
  if (filled < first.length) return first.subarray(0, filled);
  const chunks: Uint8Array[] = [first];
  let total = filled;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total) || 1);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      return fail(errnoWords(e));
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) fail(`more than the limit of ${maxBytes} bytes`);
    chunks.push(buf.subarray(0, n));
  }
  return Buffer.concat(chunks, total);
}

function readPipe(fd: number, maxBytes: number, idleMs: number, anonymous: boolean, fail: (what: string) => never): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let idleSince = Date.now();
  let nap = 1;
  const buf = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") return fail(errnoWords(e));
      n = -1;
    }
    if (n > 0) {
      total += n;
      if (total > maxBytes) fail(`more than the limit of ${maxBytes} bytes`);
      chunks.push(Buffer.from(buf.subarray(0, n)));
      idleSince = Date.now();
      nap = 1;
      continue;
    }
    // 0 is end of data once a writer was there; before any byte it may also be
    // a named FIFO whose writer has not opened it yet, so wait for one.
    if (n === 0 && (total > 0 || anonymous)) break;
    if (Date.now() - idleSince >= idleMs) {
      if (total > 0) fail(`no data for ${idleMs / 1000} s in the middle of the input`);
      fail(n === 0 ? `a FIFO with no writer (nothing came in ${idleMs / 1000} s)` : `nothing to read in ${idleMs / 1000} s`);
    }
    Bun.sleepSync(nap);
    nap = Math.min(50, nap * 2);
  }
  return Buffer.concat(chunks, total);
}
