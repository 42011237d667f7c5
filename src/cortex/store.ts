// Incidents on disk: <state_dir>/incidents/<id>/NN-<kind>.json, one file per
// artifact, each written whole or not at all (src/util/atomic.ts). A stage
// rewritten with new content gets the next revision; the same content is not
// rewritten, so syncing the same log twice changes nothing.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { takePidLock } from "../util/pid-lock.ts";
import { ARTIFACT_KINDS, ARTIFACT_SCHEMA, PRODUCERS, type Artifact, type ArtifactKind, type EvidenceRef } from "./types.ts";

export class IncidentStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  private file(id: string, kind: ArtifactKind): string {
    return join(this.dir(id), `${String(ARTIFACT_KINDS.indexOf(kind) + 1).padStart(2, "0")}-${kind}.json`);
  }

  exists(id: string): boolean {
    return existsSync(this.dir(id));
  }

  read<B>(id: string, kind: ArtifactKind): Artifact<B> | null {
    const f = this.file(id, kind);
    if (!existsSync(f)) return null;
    return JSON.parse(readFileSync(f, "utf8")) as Artifact<B>;
  }

  /** The chain written so far, in stage order. */
  chain(id: string): Artifact[] {
    return ARTIFACT_KINDS.map((k) => this.read(id, k)).filter((a): a is Artifact => a !== null);
  }

  /** Write a stage; returns the stored artifact (the old one when nothing changed). */
  write<B>(id: string, kind: ArtifactKind, derivedFrom: (Artifact | null)[], evidence: EvidenceRef[], body: B, asOf: string): Artifact<B> {
    const old = this.read<B>(id, kind);
    const from = derivedFrom.filter((a): a is Artifact => a !== null).map((a) => a.id);
    if (old && JSON.stringify(old.body) === JSON.stringify(body) && JSON.stringify(old.evidence) === JSON.stringify(evidence) && JSON.stringify(old.derived_from) === JSON.stringify(from)) {
      return old;
    }
    const revision = (old?.revision ?? 0) + 1;
    const a: Artifact<B> = {
      schema: ARTIFACT_SCHEMA,
      kind,
      id: `${id}/${kind}@${revision}`,
      incident_id: id,
      revision,
      producer: PRODUCERS[kind],
      as_of: asOf,
      derived_from: from,
      evidence,
      body,
    };
    mkdirSync(this.dir(id), { recursive: true });
    writeFileAtomic(this.file(id, kind), `${JSON.stringify(a, null, 1)}\n`);
    return a;
  }

  list(): string[] {
    try {
      return readdirSync(this.root)
        .filter((n) => n.startsWith("inc-") && existsSync(join(this.root, n)))
        .sort();
    } catch {
      return [];
    }
  }

  executionPath(id: string): string {
    return join(this.dir(id), "execution-state.json");
  }

  approval(id: string): { by: string; at: string } | null {
    const f = join(this.dir(id), "approval.json");
    if (!existsSync(f)) return null;
    return JSON.parse(readFileSync(f, "utf8"));
  }

  approve(id: string, by: string, at: string): void {
    writeFileAtomic(join(this.dir(id), "approval.json"), `${JSON.stringify({ by, at })}\n`);
  }

  /**
   * One executor at a time across processes (the agent's cortex and a
   * `hosa incident approve`): an O_EXCL pid file; a stale one (its process
   * gone, e.g. after kill -9) is taken over. Returns the release, or null
   * when another live process holds it.
   */
  lock(): (() => void) | null {
    mkdirSync(this.root, { recursive: true });
    const lock = takePidLock(join(this.root, ".executor.lock"));
    return "release" in lock ? lock.release : null;
  }
}
