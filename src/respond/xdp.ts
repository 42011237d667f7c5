// XDP load shedding (seed 004 §6.2, §7, §8): bpf/xdp_shed.bpf.c is attached
// once, at the first level that needs it; every later level change is one
// write to its policy map, so the reflex costs microseconds, not a reload.
import { EXIT, HosaError } from "../errors.ts";
import { readIfindex } from "../kernel/proprioception.ts";
import {
  bpfObjectImage,
  mapUpdate,
  objClose,
  objLoad,
  objMapFd,
  objOpenMem,
  percpuSum,
  XDP_MODE,
  xdpAttach,
  xdpDetach,
  xdpQuery,
} from "../ffi/libhosa.ts";

/** OFF, Level 3, Level 4, Level 5, and the rate-limited step on the way down from Level 3. */
export type XdpPolicy = "off" | "shed-new" | "block-all" | "isolate" | "rate-new";
export type XdpMode = "native" | "generic";

export interface XdpOptions {
  /** CIDR prefixes or addresses that pass at shed-new and block-all (load balancers, orchestrator probes). */
  healthcheck: string[];
  /** CIDR prefixes or addresses that pass at every level, isolate included (SSH, IPMI). */
  management: string[];
  /** Replace another program's XDP on the interface; by default only hosa's own (a leftover) is replaced. */
  replaceExisting?: boolean;
}

export interface XdpCounters {
  passed: number;
  dropped: number;
}

export interface XdpControl {
  /** The mode the kernel gave: native (driver) or generic (skb). */
  mode(): XdpMode;
  /** Switch policy; `rateNewPerS` (default 50) applies to "rate-new" only. */
  set(policy: XdpPolicy, rateNewPerS?: number): void;
  policy(): XdpPolicy;
  /** Packets passed and dropped since attach, all policies together. */
  counters(): XdpCounters;
  countersByPolicy(): Record<XdpPolicy, XdpCounters>;
  /** Detach the program and free the object; a second call does nothing. */
  close(): void;
}

// Mirrors bpf/xdp_shed.h.
const POLICY_CODES: Record<XdpPolicy, number> = { off: 0, "shed-new": 1, "block-all": 2, isolate: 3, "rate-new": 4 };
const POLICIES = Object.keys(POLICY_CODES) as XdpPolicy[];
const CLASS_HEALTHCHECK = 1;
const CLASS_MANAGEMENT = 2;
const DEFAULT_RATE_NEW_PER_S = 50;

/** One allow-list entry: an address prefix in network byte order. */
export interface Cidr {
  family: 4 | 6;
  addr: Uint8Array;
  prefixLen: number;
}

/** An entry of the kernel's LPM tries: a prefix and the classes of every list entry that covers it. */
export interface AllowEntry {
  cidr: Cidr;
  classes: number;
}

function parseIpv4(text: string): Uint8Array | string {
  const parts = text.split(".");
  if (parts.length !== 4) return "an IPv4 address has 4 dot-separated numbers";
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return `"${p}" is not a decimal number 0..255`;
    const n = Number(p);
    if (n > 255) return `${n} is out of range 0..255`;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | string {
  const halves = text.split("::");
  if (halves.length > 2) return `"::" may appear once`;
  const groups = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  const words: number[] = [];
  const all = [...head, ...tail];
  let v4tail: Uint8Array | undefined;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes(".")) {
    const v4 = parseIpv4(last);
    if (typeof v4 === "string") return `embedded IPv4: ${v4}`;
    v4tail = v4;
    if (tail.length) tail.pop();
    else head.pop();
  }
  for (const g of [...head, ...tail]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return `"${g}" is not a group of 1..4 hex digits`;
  }
  const want = 8 - (v4tail ? 2 : 0);
  const given = head.length + tail.length;
  if (halves.length === 1 && given !== want) return `an IPv6 address has 8 groups, found ${given}`;
  if (halves.length === 2 && given >= want) return `"::" must stand for at least one group`;
  for (const g of head) words.push(Number.parseInt(g, 16));
  for (let i = given; i < want; i++) words.push(0);
  for (const g of tail) words.push(Number.parseInt(g, 16));
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (v4tail) out.set(v4tail, 12);
  return out;
}

/** Parse `10.0.0.0/8`, `192.0.2.7`, `fd00::/8` or `2001:db8::1`; a bare address is a host (/32, /128). Returns the reason when it is not one. */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  if (t === "") return "empty";
  const slash = t.indexOf("/");
  const addrText = slash < 0 ? t : t.slice(0, slash);
  const family: 4 | 6 = addrText.includes(":") ? 6 : 4;
  const addr = family === 4 ? parseIpv4(addrText) : parseIpv6(addrText);
  if (typeof addr === "string") return addr;
  const maxLen = family === 4 ? 32 : 128;
  let prefixLen = maxLen;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > maxLen) return `prefix length "${p}" is not 0..${maxLen}`;
    prefixLen = Number(p);
  }
  for (let bit = prefixLen; bit < maxLen; bit++) {
    if ((addr[bit >> 3] as number) & (0x80 >> (bit & 7))) {
      const masked = maskedText({ family, addr, prefixLen });
      return `host bits set beyond /${prefixLen} (the network is ${masked})`;
    }
  }
  return { family, addr, prefixLen };
}

function maskedText(c: Cidr): string {
  const a = c.addr.slice();
  for (let bit = c.prefixLen; bit < a.length * 8; bit++) a[bit >> 3] = (a[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return `${formatAddr(c.family, a)}/${c.prefixLen}`;
}

/** `10.0.0.0/8`, `fd00::/8`: the canonical text of a prefix (IPv6 without zero compression). */
export function formatCidr(c: Cidr): string {
  return `${formatAddr(c.family, c.addr)}/${c.prefixLen}`;
}

function formatAddr(family: 4 | 6, a: Uint8Array): string {
  if (family === 4) return Array.from(a).join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((a[i] as number) << 8) | (a[i + 1] as number)).toString(16));
  return words.join(":");
}

function covers(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefixLen > inner.prefixLen) return false;
  for (let bit = 0; bit < outer.prefixLen; bit++) {
    const mask = 0x80 >> (bit & 7);
    if (((outer.addr[bit >> 3] as number) & mask) !== ((inner.addr[bit >> 3] as number) & mask)) return false;
  }
  return true;
}

/**
 * The tries answer with the longest matching prefix only, so each prefix
 * carries the classes of every entry covering it: a healthcheck /32 inside a
 * management /16 must still pass at ISOLATE.
 */
export function allowEntries(healthcheck: Cidr[], management: Cidr[]): AllowEntry[] {
  const listed: AllowEntry[] = [
    ...healthcheck.map((cidr) => ({ cidr, classes: CLASS_HEALTHCHECK })),
    ...management.map((cidr) => ({ cidr, classes: CLASS_MANAGEMENT })),
  ];
  const byKey = new Map<string, AllowEntry>();
  for (const e of listed) {
    const key = formatCidr(e.cidr);
    if (byKey.has(key)) continue;
    let classes = 0;
    for (const other of listed) if (covers(other.cidr, e.cidr)) classes |= other.classes;
    byKey.set(key, { cidr: e.cidr, classes });
  }
  return [...byKey.values()];
}


const PROGRAM = "xdp_shed";
const MAP_POLICY = "xdp_policy";
const MAP_COUNTERS = "xdp_counters";
const MAP_ALLOW_V4 = "xdp_allow_v4";
const MAP_ALLOW_V6 = "xdp_allow_v6";
const NO_XDP = "only cgroup actions are available";

/** The interface index, from sysfs of the current network namespace; undefined if there is no such interface. */
const ifindexOf = (ifname: string): number | undefined => readIfindex(ifname);

/** Name of the XDP program on an interface, from iproute2's JSON (libhosa's query gives only the mode). */
function attachedProgramName(ifname: string): string | undefined {
  try {
    const r = Bun.spawnSync(["ip", "-j", "link", "show", "dev", ifname], { stdout: "pipe", stderr: "ignore" });
    if (r.exitCode !== 0) return undefined;
    const links = JSON.parse(r.stdout.toString()) as { xdp?: { prog?: { name?: string } } }[];
    return links[0]?.xdp?.prog?.name;
  } catch {
    return undefined;
  }
}

function parseList(list: string[], role: string): Cidr[] {
  return list.map((text) => {
    const c = parseCidr(text);
    if (typeof c === "string") throw new HosaError(`cannot use ${role} source "${text}": ${c}`, EXIT.CONFIG);
    return c;
  });
}

/** LPM trie key as struct hosa_xdp_v4_key / hosa_xdp_v6_key: host-order prefix length, then the address. */
export function trieKey(c: Cidr): Uint8Array {
  const key = new Uint8Array(4 + c.addr.length);
  new DataView(key.buffer).setUint32(0, c.prefixLen, true);
  key.set(c.addr, 4);
  return key;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/**
 * Load bpf/xdp_shed.bpf.c and attach it to `ifname` with the policy off,
 * native (driver) mode first, else generic (skb) mode. Throws HosaError:
 * EXIT.CONFIG for a bad allow-list entry, EXIT.UNSUPPORTED when XDP cannot be
 * had here (the message says that only cgroup actions are available, and why).
 */
export function openXdp(ifname: string, opts: XdpOptions): XdpControl {
  const healthcheck = parseList(opts.healthcheck, "healthcheck");
  const management = parseList(opts.management, "management");
  const unsupported = (why: string) => new HosaError(`cannot attach XDP to ${ifname}: ${why}; ${NO_XDP}`, EXIT.UNSUPPORTED);
  const ifindex = ifindexOf(ifname);
  if (ifindex === undefined) throw unsupported("no such interface");

  let obj: number | undefined;
  let mode: XdpMode;
  let policyFd: number;
  let countersFd: number;
  try {
    const present = xdpQuery(ifindex);
    if (present !== 0 && !opts.replaceExisting) {
      // hosa's own program (a crashed agent's, or the agent's when `hosa
      // quarantine enter` runs beside it) is replaced; anyone else's is not.
      const name = attachedProgramName(ifname);
      if (name !== PROGRAM) {
        const mode = present === XDP_MODE.NATIVE ? "native" : "generic";
        throw unsupported(`XDP program ${name === undefined ? "(name unknown)" : `"${name}"`} is already attached in ${mode} mode and is not hosa's`);
      }
    }
    obj = objOpenMem(bpfObjectImage(PROGRAM), PROGRAM);
    objLoad(obj);
    policyFd = objMapFd(obj, MAP_POLICY);
    countersFd = objMapFd(obj, MAP_COUNTERS);
    const v4Fd = objMapFd(obj, MAP_ALLOW_V4);
    const v6Fd = objMapFd(obj, MAP_ALLOW_V6);
    for (const e of allowEntries(healthcheck, management)) {
      mapUpdate(e.cidr.family === 4 ? v4Fd : v6Fd, trieKey(e.cidr), u32(e.classes));
    }
    writePolicy(policyFd, "off", 0);
    try {
      xdpAttach(obj, PROGRAM, ifindex, XDP_MODE.NATIVE);
      mode = "native";
    } catch (native) {
      try {
        xdpAttach(obj, PROGRAM, ifindex, XDP_MODE.GENERIC);
        mode = "generic";
      } catch (generic) {
        throw unsupported(`native mode: ${(native as Error).message}; generic mode: ${(generic as Error).message}`);
      }
    }
  } catch (e) {
    if (obj !== undefined) objClose(obj);
    if (e instanceof HosaError && e.exitCode === EXIT.UNSUPPORTED) throw e;
    throw unsupported((e as Error).message);
  }

  const handle = obj;
  let current: XdpPolicy = "off";
  let closedCounts: Record<XdpPolicy, XdpCounters> | undefined;
  const readByPolicy = (): Record<XdpPolicy, XdpCounters> => {
    if (closedCounts) return closedCounts;
    const sums = new BigUint64Array(2);
    const out = {} as Record<XdpPolicy, XdpCounters>;
    for (const p of POLICIES) {
      const present = percpuSum(countersFd, u32(POLICY_CODES[p]), sums);
      out[p] = present ? { passed: Number(sums[0]), dropped: Number(sums[1]) } : { passed: 0, dropped: 0 };
    }
    return out;
  };

  return {
    mode: () => mode,
    policy: () => current,
    set(policy: XdpPolicy, rateNewPerS = DEFAULT_RATE_NEW_PER_S) {
      if (closedCounts) throw new HosaError(`cannot set XDP policy ${policy} on ${ifname}: the program is detached`);
      if (!(policy in POLICY_CODES)) throw new HosaError(`cannot set XDP policy "${policy}": not one of ${POLICIES.join(", ")}`, EXIT.USAGE);
      if (!Number.isInteger(rateNewPerS) || rateNewPerS < 0 || rateNewPerS > 0xffffffff) {
        throw new HosaError(`cannot set XDP rate-new: ${rateNewPerS} is not a whole number of connections per second`, EXIT.USAGE);
      }
      writePolicy(policyFd, policy, rateNewPerS);
      current = policy;
    },
    countersByPolicy: readByPolicy,
    counters() {
      const all = readByPolicy();
      let passed = 0;
      let dropped = 0;
      for (const p of POLICIES) {
        passed += all[p].passed;
        dropped += all[p].dropped;
      }
      return { passed, dropped };
    },
    close() {
      if (closedCounts) return;
      closedCounts = readByPolicy();
      current = "off";
      // hosa_obj_close detaches only if our program is still the one attached.
      objClose(handle);
    },
  };
}

function writePolicy(fd: number, policy: XdpPolicy, rateNewPerS: number): void {
  const value = new Uint8Array(8);
  const view = new DataView(value.buffer);
  view.setUint32(0, POLICY_CODES[policy], true);
  view.setUint32(4, rateNewPerS, true);
  mapUpdate(fd, u32(0), value);
}

/**
 * Detach whatever XDP program is on `ifname` (crash recovery: a program
 * attached through netlink outlives the process that attached it, with its
 * last policy). Returns false when nothing was attached or there is no such interface.
 */
export function detachXdp(ifname: string): boolean {
  const ifindex = ifindexOf(ifname);
  if (ifindex === undefined || xdpQuery(ifindex) === 0) return false;
  xdpDetach(ifindex, XDP_MODE.AUTO);
  return true;
}
