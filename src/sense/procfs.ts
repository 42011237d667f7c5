// Read-only access to a kernel pseudo-filesystem rooted at a path, so tests
// root it at test/fixtures/proc/<scenario>/ and production at /proc or /sys.
import { readFileSync } from "node:fs";

export interface ProcFs {
  readonly root: string;
  /** The file's text, or undefined when it cannot be read (then `lastError` says why). */
  read(file: string): string | undefined;
  /** Why the last failed read failed, in words: "no such file", "permission denied". */
  readonly lastError: string;
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

export function createProcFs(root = "/proc"): ProcFs {
  const base = root.endsWith("/") ? root : `${root}/`;
  const fs = {
    root,
    lastError: "",
    read(file: string): string | undefined {
      try {
        // latin1: /proc text is ASCII, and latin1 decoding is the cheapest.
        return readFileSync(base + file, "latin1");
      } catch (e) {
        fs.lastError = errnoWords(e);
        return undefined;
      }
    },
  };
  return fs;
}
