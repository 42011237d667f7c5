// Read-only access to a kernel pseudo-filesystem rooted at a path, so tests
// root it at test/fixtures/proc/<scenario>/ and production at /proc or /sys.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { ROOTS } from "./files.ts";

export interface ProcFs {
  readonly root: string;
  /** The file's text, or undefined when it cannot be read (then `lastError` says why). */
  read(file: string): string | undefined;
  /**
   * The file's text from a descriptor opened for this read alone. For the
   * files a kept descriptor would freeze: a cgroup v1 `tasks` or
   * `cgroup.procs` builds its pid list when first read and serves that same
   * list to every re-read of the descriptor until it goes unread for a
   * second (kernel/cgroup/cgroup-v1.c, CGROUP_PIDLIST_DESTROY_DELAY), so a
   * reader every 0.5 s would never see a task come or go.
   */
  readOnce(file: string): string | undefined;
  /**
   * The file's bytes, read into the buffer every ProcFs shares (procBytes()),
   * from its start: their length, or -1 when it cannot be read. No string is
   * made (a tick that parses in place allocates nothing); valid until the next
   * read of any ProcFs.
   */
  readBytes(file: string): number;
  /** Why the last failed read failed, in words: "no such file", "permission denied". */
  readonly lastError: string;
  /** Close the descriptors kept open; later reads open them again. */
  close(): void;
  /** Close the kept descriptors of the files `keep` refuses (a cgroup that is gone). */
  prune(keep: (file: string) => boolean): void;
}

/** Turn a Node errno error into a few words for a one-line message. */
export function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOTDIR":
      return "not a directory";
    case "EISDIR":
      return "is a directory";
    case "EOPNOTSUPP":
    case "ENOTSUP":
      return "not supported";
    default:
      return code ?? String((e as Error)?.message ?? e).split("\n")[0];
  }
}

/**
 * One read buffer for every ProcFs: a read is synchronous and its bytes are
 * copied into a string before it returns, so none holds it across calls. The
 * danger watch keeps a ProcFs per watched cgroup; a buffer each was 64 KB
 * per cgroup (docs/footprint.md, Memory).
 */
let scratch: Buffer | undefined;
const READ_CHUNK = 64 * 1024;
const SHORT_READ_END = 2048;

function pread(fd: number): string {
  const len = preadInto(fd);
  return scratch!.toString("latin1", 0, len);
}

/** The shared read buffer: what readBytes() returned the length of is at its start. */
export function procBytes(): Buffer {
  return (scratch ??= Buffer.allocUnsafe(READ_CHUNK));
}

/** Read the whole file at offset 0 into the shared buffer; its length. */
function preadInto(fd: number): number {
  let buf = (scratch ??= Buffer.allocUnsafe(READ_CHUNK));
  let len = 0;
  for (;;) {
    // At most 64 KiB per read(2): the kernel refuses larger counts for some files (sysctl: ENOMEM).
    const room = Math.min(buf.length - len, READ_CHUNK);
    const n = readSync(fd, buf, len, room, len);
    if (n === 0) break;
    len += n;
    // Short and under SHORT_READ_END: the end (as libhosa's read sets; a seq_file
    // stops short of the room only at the end or when its page-sized buffer is
    // full), so no second read(2) that returns 0.
    if (n < room && n < SHORT_READ_END) break;
    if (len === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      scratch = buf = bigger;
    }
  }
  return len;
}

/**
 * Kernel pseudo-files (size 0 in stat) stay open and are re-read with
 * pread(2) at offset 0, which makes seq_file regenerate them: two to four
 * times cheaper than open/read/close at every 10 ms tick. Regular files (a
 * fixture directory) are read whole each time, so a test may replace them.
 */
export function createProcFs(root: string = ROOTS.proc): ProcFs {
  const base = root.endsWith("/") ? root : `${root}/`;
  const fds = new Map<string, number>();

  const fs = {
    root,
    lastError: "",
    read(file: string): string | undefined {
      const kept = fds.get(file);
      try {
        if (kept !== undefined) return pread(kept);
        const fd = openSync(base + file, "r");
        if (fstatSync(fd).size === 0) {
          fds.set(file, fd);
          return pread(fd);
        }
        try {
          return readFileSync(fd, "latin1");
        } finally {
          closeSync(fd);
        }
      } catch (e) {
        if (kept !== undefined) {
          fds.delete(file);
          try {
            closeSync(kept);
          } catch {}
        }
        fs.lastError = errnoWords(e);
        return undefined;
      }
    },
    readOnce(file: string): string | undefined {
      const kept = fds.get(file);
      if (kept !== undefined) {
        fds.delete(file);
        try {
          closeSync(kept);
        } catch {}
      }
      try {
        return readFileSync(base + file, "latin1");
      } catch (e) {
        fs.lastError = errnoWords(e);
        return undefined;
      }
    },
    readBytes(file: string): number {
      const kept = fds.get(file);
      if (kept !== undefined) {
        try {
          return preadInto(kept);
        } catch {
          // Gone (a removed cgroup): as read() says it.
        }
      }
      const text = fs.read(file);
      if (text === undefined) return -1;
      let buf = procBytes();
      if (buf.length < text.length) scratch = buf = Buffer.allocUnsafe(text.length);
      return buf.write(text, 0, "latin1");
    },
    close(): void {
      for (const fd of fds.values()) {
        try {
          closeSync(fd);
        } catch {}
      }
      fds.clear();
    },
    prune(keep: (file: string) => boolean): void {
      for (const [file, fd] of fds) {
        if (keep(file)) continue;
        fds.delete(file);
        try {
          closeSync(fd);
        } catch {}
      }
    },
  };
  return fs;
}
