// XDP load shedding on the real kernel: two network namespaces joined by a
// veth pair, a TCP echo server and the XDP control in the "node" namespace,
// clients with several source addresses in the "client" namespace. Nothing
// leaves the namespaces; every wait is bounded.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { allowEntries, formatCidr, openXdp, parseCidr, trieKey, type Cidr } from "./xdp.ts";
import { EXIT, HosaError } from "../errors.ts";

const cidr = (text: string): Cidr => {
  const c = parseCidr(text);
  if (typeof c === "string") throw new Error(`${text}: ${c}`);
  return c;
};

describe("parseCidr()", () => {
  test("parses IPv4 and IPv6 prefixes and bare hosts", () => {
    expect(formatCidr(cidr("10.0.0.0/8"))).toBe("10.0.0.0/8");
    expect(formatCidr(cidr("192.0.2.7"))).toBe("192.0.2.7/32");
    expect(formatCidr(cidr("0.0.0.0/0"))).toBe("0.0.0.0/0");
    expect(formatCidr(cidr("fd00::/8"))).toBe("fd00:0:0:0:0:0:0:0/8");
    expect(formatCidr(cidr("2001:db8::1"))).toBe("2001:db8:0:0:0:0:0:1/128");
    expect(formatCidr(cidr("::"))).toBe("0:0:0:0:0:0:0:0/128");
    expect(formatCidr(cidr("::ffff:192.0.2.1"))).toBe("0:0:0:0:0:ffff:c000:201/128");
    expect(Array.from(cidr("2001:db8:1:2:3:4:5:6").addr.slice(14))).toEqual([0, 6]);
  });

  test("says why a bad entry is not a prefix", () => {
    expect(parseCidr("10.0.0.300/8")).toBe("300 is out of range 0..255");
    expect(parseCidr("10.0.0/8")).toBe("an IPv4 address has 4 dot-separated numbers");
    expect(parseCidr("10.0.0.1/33")).toBe(`prefix length "33" is not 0..32`);
    expect(parseCidr("10.1.2.3/8")).toBe("host bits set beyond /8 (the network is 10.0.0.0/8)");
    expect(parseCidr("fd00::1::2")).toBe(`"::" may appear once`);
    expect(parseCidr("fd00:xyz::")).toBe(`"xyz" is not a group of 1..4 hex digits`);
    expect(parseCidr("1:2:3:4:5:6:7")).toBe("an IPv6 address has 8 groups, found 7");
    expect(parseCidr("fd00::/129")).toBe(`prefix length "129" is not 0..128`);
    expect(parseCidr("")).toBe("empty");
    expect(parseCidr("010.0.0.1")).toBe(`"010" is not a decimal number 0..255`);
  });
});

describe("allowEntries()", () => {
  test("a prefix inside another carries the classes of both, since the trie answers the longest match only", () => {
    const entries = allowEntries([cidr("10.1.2.3"), cidr("10.0.0.0/8")], [cidr("10.1.0.0/16"), cidr("fd00::/8")]);
    const byText = Object.fromEntries(entries.map((e) => [formatCidr(e.cidr), e.classes]));
    expect(byText).toEqual({
      "10.1.2.3/32": 3,
      "10.0.0.0/8": 1,
      "10.1.0.0/16": 3,
      "fd00:0:0:0:0:0:0:0/8": 2,
    });
  });

  test("a prefix listed twice becomes one entry", () => {
    expect(allowEntries([cidr("192.0.2.1")], [cidr("192.0.2.1/32")])).toHaveLength(1);
    expect(allowEntries([cidr("192.0.2.1")], [cidr("192.0.2.1/32")])[0]?.classes).toBe(3);
  });
});

describe("openXdp() refuses bad input before touching the kernel", () => {
  test("a bad allow-list entry names the list and the entry", () => {
    let err: unknown;
    try {
      openXdp("lo", { healthcheck: ["10.0.0.1"], management: ["10.0.0.300/8"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HosaError);
    expect((err as HosaError).message).toBe(`cannot use management source "10.0.0.300/8": 300 is out of range 0..255`);
    expect((err as HosaError).exitCode).toBe(EXIT.CONFIG);
  });

  test("a missing interface says that only cgroup actions are available", () => {
    let err: unknown;
    try {
      openXdp("hosa-no-such0", { healthcheck: [], management: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HosaError);
    expect((err as HosaError).message).toBe(
      `cannot attach XDP to hosa-no-such0: no such interface; only cgroup actions are available`,
    );
    expect((err as HosaError).exitCode).toBe(EXIT.UNSUPPORTED);
  });
});

// ---- the real kernel ----

const root = resolve(import.meta.dir, "../..");
const isRoot = process.getuid?.() === 0;
const haveIp = Bun.which("ip") !== null;
const skipReason = !isRoot ? "needs root (network namespaces, XDP)" : !haveIp ? "needs iproute2 (ip)" : "";
if (skipReason) console.warn(`xdp.test.ts: skipping the kernel tests: ${skipReason}`);

const pid = process.pid;
const nodeNs = `hosa-xdp-n-${pid}`;
const clientNs = `hosa-xdp-c-${pid}`;
const nodeIf = `hx${pid}n`;
const clientIf = `hx${pid}c`;
const NODE4 = "10.201.0.1";
const OTHER4 = "10.201.0.2";
const HEALTH4 = "10.201.0.3";
const MGMT4 = "10.201.0.4";
const NODE6 = "fd42:201::1";
const OTHER6 = "fd42:201::2";
const HEALTH6 = "fd42:201::3";
const PORT = 18080;
// A dropped SYN is retransmitted after 1 s (TCP_TIMEOUT_INIT), so a connect
// that has not completed in 1 s has had its only SYN dropped.
const CONNECT_TIMEOUT_MS = 1000;

function sh(args: string[], allowFail = false): string {
  const r = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0 && !allowFail) throw new Error(`${args.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

type Reply = Record<string, unknown>;

/** A bun script in a namespace, driven by one JSON line per command and answering one JSON line each. */
class NsProcess {
  private proc: ReturnType<typeof Bun.spawn>;
  private pending = new Map<number, (r: Reply) => void>();
  private next = 1;
  private stderr = "";
  readonly ready: Promise<Reply>;

  constructor(ns: string, script: string, args: string[]) {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, "run", script, ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.proc = proc;
    this.ready = new Promise((res) => this.pending.set(0, res));
    void this.readLines();
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) this.stderr += new TextDecoder().decode(chunk);
    })();
  }

  private async readLines(): Promise<void> {
    let buf = "";
    for await (const chunk of this.proc.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(chunk);
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const reply = JSON.parse(buf.slice(0, i)) as Reply;
        buf = buf.slice(i + 1);
        const n = Number(reply.n ?? 0);
        this.pending.get(n)?.(reply);
        this.pending.delete(n);
      }
    }
  }

  /** Send a command; rejects after limitMs so a wedged child cannot hang the test. */
  call(cmd: Reply, limitMs = 5000): Promise<Reply> {
    const n = this.next++;
    const sink = this.proc.stdin as import("bun").FileSink;
    sink.write(`${JSON.stringify({ ...cmd, n })}\n`);
    sink.flush();
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.pending.delete(n);
        rej(new Error(`no answer to ${JSON.stringify(cmd)} in ${limitMs} ms; stderr: ${this.stderr}`));
      }, limitMs);
      this.pending.set(n, (r) => {
        clearTimeout(timer);
        res(r);
      });
    });
  }

  async waitReady(limitMs = 10000): Promise<Reply> {
    let timer: Timer | undefined;
    const timeout = new Promise<Reply>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`child not ready in ${limitMs} ms; stderr: ${this.stderr}`)), limitMs);
    });
    try {
      return await Promise.race([this.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.proc.kill("SIGKILL");
    } catch {}
  }
}

// ---- the program alone, on crafted packets ----
// BPF_PROG_TEST_RUN (through bpftool, which CI installs) runs the same object
// the executable embeds on packets this machine cannot produce with sockets:
// VLAN tags (no 8021q here), IPv6 extension headers, fragments, truncations.

const objectPath = join(root, "build/bpf/xdp_shed.bpf.o");
const haveBpftool = Bun.which("bpftool") !== null;
const progSkip = !isRoot
  ? "needs root (BPF_PROG_TEST_RUN)"
  : !haveBpftool
    ? "needs bpftool"
    : !existsSync(objectPath)
      ? `${objectPath} is missing (run scripts/build.sh)`
      : "";
if (progSkip) console.warn(`xdp.test.ts: skipping the crafted-packet tests: ${progSkip}`);

const XDP_DROP = 1;
const XDP_PASS = 2;
const POLICY = { off: 0, "shed-new": 1, "block-all": 2, isolate: 3, "rate-new": 4 } as const;
const TCP = { SYN: 0x02, ACK: 0x10, SYNACK: 0x12, PSHACK: 0x18 } as const;

const ipv4Bytes = (a: string) => cidr(a).addr;
const ipv6Bytes = (a: string) => cidr(a).addr;

function eth(type: number, vlans: number[] = []): number[] {
  const out = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
  for (const tpid of vlans) out.push(tpid >> 8, tpid & 0xff, 0, 10);
  out.push(type >> 8, type & 0xff);
  return out;
}

function tcp(flags: number): number[] {
  const h = new Array(20).fill(0);
  h[0] = 0xc0; // source port 49152
  h[3] = 80;
  h[12] = 0x50;
  h[13] = flags;
  return h;
}

function udp(sourcePort: number, destPort: number): number[] {
  return [sourcePort >> 8, sourcePort & 0xff, destPort >> 8, destPort & 0xff, 0, 8, 0, 0];
}

function ipv4(src: string, proto: number, payload: number[], o: { ihl?: number; fragOffset?: number } = {}): number[] {
  const ihl = o.ihl ?? 5;
  const h = new Array(ihl * 4).fill(0);
  h[0] = 0x40 | ihl;
  const total = h.length + payload.length;
  h[2] = total >> 8;
  h[3] = total & 0xff;
  h[6] = (o.fragOffset ?? 0) >> 8;
  h[7] = (o.fragOffset ?? 0) & 0xff;
  h[8] = 64;
  h[9] = proto;
  h.splice(12, 4, ...ipv4Bytes(src));
  h.splice(16, 4, ...ipv4Bytes("192.0.2.1"));
  return [...h, ...payload];
}

/** IPv6 header, then each extension header as [next header, body], then the upper-layer payload. */
function ipv6(src: string, proto: number, payload: number[], o: { hopLimit?: number; ext?: [number, number[]][] } = {}): number[] {
  const exts = o.ext ?? [];
  const chain = [...exts.map(([type]) => type), proto];
  let body: number[] = [];
  exts.forEach(([, ext], i) => {
    body = [...body, chain[i + 1] as number, ...ext];
  });
  body = [...body, ...payload];
  const h = new Array(40).fill(0);
  h[0] = 0x60;
  h[4] = body.length >> 8;
  h[5] = body.length & 0xff;
  h[6] = chain[0] as number;
  h[7] = o.hopLimit ?? 64;
  h.splice(8, 16, ...ipv6Bytes(src));
  h.splice(24, 16, ...ipv6Bytes("2001:db8::1"));
  return [...h, ...body];
}

// Extension header bodies after their next-header byte: hop-by-hop / destination
// options of 8 bytes (length 0, PadN), routing type 0 with no segments, and fragment headers.
const OPTS8 = [0, 1, 4, 0, 0, 0, 0];
const ROUTING8 = [0, 0, 0, 0, 0, 0, 0];
const FRAG_FIRST = [0, 0x00, 0x01, 0, 0, 0, 7];
const FRAG_LATER = [0, 0x05, 0x00, 0, 0, 0, 7];
const ARP = [...eth(0x0806), 0, 1, 8, 0, 6, 4, 0, 1, ...new Array(20).fill(0)];
const icmp6 = (type: number) => [type, 0, 0, 0, 0, 0, 0, 0, ...ipv6Bytes("2001:db8::1")];

const OTHER = "203.0.113.5";
const HC = "192.0.2.10";
const MG = "198.51.100.77";
const OTHER_6 = "2001:db8:9::5";
const HC_6 = "2001:db8:1:2::3";
const MG_6 = "2001:db8:2::1";

type Case = [name: string, policy: keyof typeof POLICY, packet: number[], expected: typeof XDP_PASS | typeof XDP_DROP];
const CASES: Case[] = [
  ["off: a SYN from anywhere", "off", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))], XDP_PASS],
  ["shed-new: IPv4 SYN from an unlisted source", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))], XDP_DROP],
  ["shed-new: IPv4 SYN-ACK (a reply to our own connection)", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYNACK))], XDP_PASS],
  ["shed-new: IPv4 data of an established connection", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.PSHACK))], XDP_PASS],
  ["shed-new: IPv4 SYN from a healthcheck source", "shed-new", [...eth(0x0800), ...ipv4(HC, 6, tcp(TCP.SYN))], XDP_PASS],
  ["shed-new: IPv4 SYN from a management prefix", "shed-new", [...eth(0x0800), ...ipv4(MG, 6, tcp(TCP.SYN))], XDP_PASS],
  ["shed-new: IPv4 SYN behind IP options", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN), { ihl: 6 })], XDP_DROP],
  ["shed-new: IPv4 SYN behind an 802.1Q tag", "shed-new", [...eth(0x0800, [0x8100]), ...ipv4(OTHER, 6, tcp(TCP.SYN))], XDP_DROP],
  ["shed-new: IPv4 SYN behind 802.1ad + 802.1Q tags", "shed-new", [...eth(0x0800, [0x88a8, 0x8100]), ...ipv4(OTHER, 6, tcp(TCP.SYN))], XDP_DROP],
  ["shed-new: a later IPv4 fragment carries no TCP header", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN), { fragOffset: 185 })], XDP_PASS],
  ["shed-new: a TCP header cut before its flags", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN).slice(0, 12))], XDP_PASS],
  ["shed-new: UDP", "shed-new", [...eth(0x0800), ...ipv4(OTHER, 17, new Array(8).fill(0))], XDP_PASS],
  ["shed-new: ARP", "shed-new", ARP, XDP_PASS],
  ["shed-new: IPv6 SYN from an unlisted source", "shed-new", [...eth(0x86dd), ...ipv6(OTHER_6, 6, tcp(TCP.SYN))], XDP_DROP],
  ["shed-new: IPv6 SYN from a healthcheck /48", "shed-new", [...eth(0x86dd), ...ipv6(HC_6, 6, tcp(TCP.SYN))], XDP_PASS],
  ["shed-new: IPv6 SYN behind hop-by-hop, routing and destination options", "shed-new",
    [...eth(0x86dd), ...ipv6(OTHER_6, 6, tcp(TCP.SYN), { ext: [[0, OPTS8], [43, ROUTING8], [60, OPTS8]] })], XDP_DROP],
  ["shed-new: IPv6 SYN in a first fragment", "shed-new", [...eth(0x86dd), ...ipv6(OTHER_6, 6, tcp(TCP.SYN), { ext: [[44, FRAG_FIRST]] })], XDP_DROP],
  ["shed-new: a later IPv6 fragment", "shed-new", [...eth(0x86dd), ...ipv6(OTHER_6, 6, tcp(TCP.SYN), { ext: [[44, FRAG_LATER]] })], XDP_PASS],
  ["shed-new: IPv6 data of an established connection", "shed-new", [...eth(0x86dd), ...ipv6(OTHER_6, 6, tcp(TCP.ACK))], XDP_PASS],
  ["block-all: IPv4 data from an unlisted source", "block-all", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.PSHACK))], XDP_DROP],
  ["block-all: IPv4 UDP from an unlisted source", "block-all", [...eth(0x0800), ...ipv4(OTHER, 17, new Array(8).fill(0))], XDP_DROP],
  ["block-all: IPv4 from a healthcheck source", "block-all", [...eth(0x0800), ...ipv4(HC, 6, tcp(TCP.SYN))], XDP_PASS],
  ["block-all: IPv4 from a management prefix", "block-all", [...eth(0x0800), ...ipv4(MG, 6, tcp(TCP.PSHACK))], XDP_PASS],
  ["block-all: tagged IPv4 from an unlisted source", "block-all", [...eth(0x0800, [0x8100]), ...ipv4(OTHER, 6, tcp(TCP.ACK))], XDP_DROP],
  ["block-all: an IPv4 header cut short", "block-all", [...eth(0x0800), ...ipv4(OTHER, 6, []).slice(0, 10)], XDP_DROP],
  ["block-all: ARP keeps the node reachable", "block-all", ARP, XDP_PASS],
  ["block-all: LLDP and other non-IP frames", "block-all", [...eth(0x88cc), ...new Array(30).fill(0)], XDP_PASS],
  ["block-all: IPv6 neighbour solicitation (hop limit 255)", "block-all", [...eth(0x86dd), ...ipv6(OTHER_6, 58, icmp6(135), { hopLimit: 255 })], XDP_PASS],
  ["block-all: IPv6 neighbour solicitation that crossed a router (hop limit 64)", "block-all", [...eth(0x86dd), ...ipv6(OTHER_6, 58, icmp6(135))], XDP_DROP],
  ["block-all: IPv6 echo request", "block-all", [...eth(0x86dd), ...ipv6(OTHER_6, 58, icmp6(128), { hopLimit: 255 })], XDP_DROP],
  ["block-all: IPv6 from a healthcheck /48", "block-all", [...eth(0x86dd), ...ipv6(HC_6, 6, tcp(TCP.ACK))], XDP_PASS],
  ["isolate: a DHCPv4 answer (67 -> 68) keeps the lease", "isolate", [...eth(0x0800), ...ipv4(OTHER, 17, udp(67, 68))], XDP_PASS],
  ["isolate: a DHCPv6 answer (547 -> 546) keeps the lease", "isolate", [...eth(0x86dd), ...ipv6(OTHER_6, 17, udp(547, 546))], XDP_PASS],
  ["isolate: other UDP from port 67", "isolate", [...eth(0x0800), ...ipv4(OTHER, 17, udp(67, 53))], XDP_DROP],
  ["isolate: a DHCP request to a server on this node (68 -> 67)", "isolate", [...eth(0x0800), ...ipv4(OTHER, 17, udp(68, 67))], XDP_DROP],
  ["isolate: IPv4 from a healthcheck source", "isolate", [...eth(0x0800), ...ipv4(HC, 6, tcp(TCP.ACK))], XDP_DROP],
  ["isolate: IPv4 from a management prefix", "isolate", [...eth(0x0800), ...ipv4(MG, 6, tcp(TCP.SYN))], XDP_PASS],
  ["isolate: IPv6 from a management host", "isolate", [...eth(0x86dd), ...ipv6(MG_6, 6, tcp(TCP.SYN))], XDP_PASS],
  ["isolate: IPv6 from a healthcheck /48", "isolate", [...eth(0x86dd), ...ipv6(HC_6, 6, tcp(TCP.SYN))], XDP_DROP],
  ["isolate: ARP", "isolate", ARP, XDP_PASS],
  ["rate-new: IPv4 data is never limited", "rate-new", [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.ACK))], XDP_PASS],
];

describe.skipIf(progSkip !== "")("bpf/xdp_shed.bpf.c on crafted packets", () => {
  let dir = "";
  let fs = "";

  const bpftool = (args: string[]) => JSON.parse(sh(["bpftool", "-j", ...args]) || "null");
  const hex = (bytes: ArrayLike<number>) => ["hex", ...Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))];
  const u32le = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
  const setPolicy = (code: number, rateNewPerS = 0) =>
    bpftool(["map", "update", "pinned", `${fs}/maps/xdp_policy`, "key", ...hex(u32le(0)), "value", ...hex([...u32le(code), ...u32le(rateNewPerS)])]);
  const resetRateWindow = () =>
    bpftool(["map", "update", "pinned", `${fs}/maps/xdp_rate`, "key", ...hex(u32le(0)), "value", ...hex(new Array(16).fill(0))]);
  const run = (packet: number[], repeat = 1): { retval: number; duration: number } => {
    const file = join(dir, "packet.bin");
    writeFileSync(file, new Uint8Array(packet));
    return bpftool(["prog", "run", "pinned", `${fs}/prog`, "data_in", file, "repeat", String(repeat)]);
  };
  const counters = (code: number): { passed: number; dropped: number } => {
    const r = bpftool(["map", "lookup", "pinned", `${fs}/maps/xdp_counters`, "key", ...hex(u32le(code))]);
    const sum = { passed: 0, dropped: 0 };
    for (const v of r.formatted.values as { value: { passed: number; dropped: number } }[]) {
      sum.passed += v.value.passed;
      sum.dropped += v.value.dropped;
    }
    return sum;
  };

  beforeAll(() => {
    // No dot in the path: libbpf rewrites "." to "_" in pin paths.
    dir = mkdtempSync(join(tmpdir(), "hosaxdp"));
    fs = join(dir, "bpffs");
    mkdirSync(fs);
    sh(["mount", "-t", "bpf", "bpf", fs]);
    sh(["bpftool", "prog", "load", objectPath, `${fs}/prog`, "type", "xdp", "pinmaps", `${fs}/maps`]);
    const entries = allowEntries([cidr(HC), cidr("2001:db8:1::/48")], [cidr("198.51.100.0/24"), cidr(MG_6)]);
    for (const e of entries) {
      const map = e.cidr.family === 4 ? "xdp_allow_v4" : "xdp_allow_v6";
      bpftool(["map", "update", "pinned", `${fs}/maps/${map}`, "key", ...hex(trieKey(e.cidr)), "value", ...hex(u32le(e.classes))]);
    }
  });

  afterAll(() => {
    if (!dir) return;
    sh(["umount", fs], true);
    rmSync(dir, { recursive: true, force: true });
  });

  test.each(CASES)("%s", (_name, policy, packet, expected) => {
    setPolicy(POLICY[policy], 1000);
    expect(run(packet).retval).toBe(expected);
  });

  test("an unknown policy number passes everything (a newer hosa's value must not black-hole the node)", () => {
    setPolicy(9);
    expect(run([...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))]).retval).toBe(XDP_PASS);
    const off = counters(POLICY.off);
    run([...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))], 5);
    expect(counters(POLICY.off).passed - off.passed).toBe(5);
  });

  test("rate-new admits rate_new_per_s new connections per one-second window, then drops", () => {
    const syn = [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))];
    setPolicy(POLICY["rate-new"], 2);
    // A run of `repeat` takes microseconds: all of it falls in the window its first SYN opens.
    resetRateWindow();
    expect(run(syn, 2).retval).toBe(XDP_PASS);
    resetRateWindow();
    expect(run(syn, 3).retval).toBe(XDP_DROP);
    resetRateWindow();
    const before = counters(POLICY["rate-new"]);
    run(syn, 10);
    const after = counters(POLICY["rate-new"]);
    expect([after.passed - before.passed, after.dropped - before.dropped]).toEqual([2, 8]);
    // Allow-listed sources are never limited.
    resetRateWindow();
    expect(run([...eth(0x0800), ...ipv4(HC, 6, tcp(TCP.SYN))], 10).retval).toBe(XDP_PASS);
  });

  test("counters count each verdict under the policy in force", () => {
    const syn = [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))];
    const ack = [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.ACK))];
    setPolicy(POLICY["shed-new"]);
    const before = counters(POLICY["shed-new"]);
    run(syn, 7);
    run(ack, 3);
    const after = counters(POLICY["shed-new"]);
    expect([after.passed - before.passed, after.dropped - before.dropped]).toEqual([3, 7]);
  });

  test("cost per packet (BPF_PROG_TEST_RUN average over 100000 runs)", () => {
    const syn = [...eth(0x0800), ...ipv4(OTHER, 6, tcp(TCP.SYN))];
    const v6 = [...eth(0x86dd), ...ipv6(OTHER_6, 6, tcp(TCP.SYN), { ext: [[0, OPTS8], [60, OPTS8]] })];
    setPolicy(POLICY.off);
    const off = run(syn, 100000).duration;
    setPolicy(POLICY["shed-new"]);
    const shed4 = run(syn, 100000).duration;
    const shed6 = run(v6, 100000).duration;
    setPolicy(POLICY["block-all"]);
    const block = run(syn, 100000).duration;
    console.log(`xdp.test.ts: ns per packet: off ${off}, shed-new IPv4 SYN ${shed4}, shed-new IPv6 SYN with 2 ext headers ${shed6}, block-all ${block}`);
    // A verdict in well under a microsecond is what makes dropping at the driver cheap (seed 004 §6.2).
    expect(Math.max(off, shed4, shed6, block)).toBeLessThan(5000);
  });
});

// The node: an echo server on every address and the XDP control, in one process.
const NODE_SCRIPT = `
import { detachXdp, openXdp } from ${JSON.stringify(join(root, "src/respond/xdp.ts"))};
const [ifname, optsJson, port] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
Bun.listen({ hostname: "::", port: Number(port), socket: { data(s, d) { s.write(d); } } });
const controls = new Map();
const errOf = (e) => ({ error: e.message, exitCode: e.exitCode });
let started = Date.now();
try { controls.set("main", openXdp(ifname, JSON.parse(optsJson))); out({ n: 0, mode: controls.get("main").mode(), attachMs: Date.now() - started }); }
catch (e) { out({ n: 0, ...errOf(e) }); }
for await (const line of console) {
  const c = JSON.parse(line);
  const xdp = controls.get(c.id ?? "main");
  try {
    if (c.op === "set") { const t0 = performance.now(); xdp.set(c.policy, c.rateNewPerS); out({ n: c.n, ok: true, setUs: Math.round((performance.now() - t0) * 1000) }); }
    else if (c.op === "counters") out({ n: c.n, ...xdp.counters(), byPolicy: xdp.countersByPolicy() });
    else if (c.op === "close") { xdp.close(); xdp.close(); out({ n: c.n, ok: true }); }
    else if (c.op === "open") { const x = openXdp(c.ifname ?? ifname, c.opts); controls.set(c.id, x); out({ n: c.n, mode: x.mode() }); }
    else if (c.op === "detach") out({ n: c.n, detached: detachXdp(c.ifname ?? ifname) });
  } catch (e) { out({ n: c.n, ...errOf(e) }); }
}
`;

// The clients: named long-lived connections and one-shot connection probes, each from a chosen source address.
const CLIENT_SCRIPT = `
import net from "node:net";
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const conns = new Map();
function connect(c) {
  return new Promise((res) => {
    const t0 = performance.now();
    const s = net.connect({ host: c.host, port: c.port, localAddress: c.src });
    const timer = setTimeout(() => { s.destroy(); res({ ok: false, why: "timeout" }); }, c.timeoutMs);
    s.once("connect", () => { clearTimeout(timer); res({ ok: true, ms: Math.round(performance.now() - t0), s }); });
    s.once("error", (e) => { clearTimeout(timer); res({ ok: false, why: e.code || e.message }); });
  });
}
function echo(c) {
  const conn = conns.get(c.id);
  if (!conn) return Promise.resolve({ ok: false, why: "no such connection" });
  const token = "ping-" + c.n + "\\n";
  return new Promise((res) => {
    const t0 = performance.now();
    const timer = setTimeout(() => { conn.s.off("data", onData); res({ ok: false, why: "timeout" }); }, c.timeoutMs);
    function onData() {
      if (conn.buf.includes(token)) { clearTimeout(timer); conn.s.off("data", onData); res({ ok: true, ms: Math.round(performance.now() - t0) }); }
    }
    conn.s.on("data", onData);
    conn.s.write(token);
  });
}
out({ n: 0, ready: true });
for await (const line of console) {
  const c = JSON.parse(line);
  (async () => {
    if (c.op === "open") {
      const r = await connect(c);
      if (r.ok) { const conn = { s: r.s, buf: "" }; r.s.on("data", (d) => { conn.buf += d.toString(); }); r.s.on("error", () => {}); conns.set(c.id, conn); }
      out({ n: c.n, ok: r.ok, why: r.why, ms: r.ms });
    } else if (c.op === "probe") {
      const r = await connect(c);
      if (r.ok) r.s.destroy();
      out({ n: c.n, ok: r.ok, why: r.why, ms: r.ms });
    } else if (c.op === "echo") {
      out({ n: c.n, ...(await echo(c)) });
    }
  })();
}
`;

describe.skipIf(skipReason !== "")("XDP shedding between two network namespaces", () => {
  let dir = "";
  let node: NsProcess | undefined;
  let client: NsProcess | undefined;
  let mode = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hosa-xdp-"));
    writeFileSync(join(dir, "node.ts"), NODE_SCRIPT);
    writeFileSync(join(dir, "client.ts"), CLIENT_SCRIPT);
    sh(["ip", "netns", "add", nodeNs]);
    sh(["ip", "netns", "add", clientNs]);
    sh(["ip", "link", "add", nodeIf, "netns", nodeNs, "type", "veth", "peer", "name", clientIf, "netns", clientNs]);
    for (const [ns, dev, addrs] of [
      [nodeNs, nodeIf, [`${NODE4}/24`, `${NODE6}/64`]],
      [clientNs, clientIf, [`${OTHER4}/24`, `${HEALTH4}/24`, `${MGMT4}/24`, `${OTHER6}/64`, `${HEALTH6}/64`]],
    ] as const) {
      // No duplicate address detection: addresses, link-local included, are
      // usable at once instead of tentative for the first second.
      sh(["ip", "netns", "exec", ns, "sysctl", "-qw", `net.ipv6.conf.${dev}.accept_dad=0`]);
      for (const a of addrs) sh(["ip", "-n", ns, "addr", "add", a, "dev", dev, ...(a.includes(":") ? ["nodad"] : [])]);
      sh(["ip", "-n", ns, "link", "set", dev, "up"]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }

    const opts = { healthcheck: [`${HEALTH4}/32`, "fd42:201::3/128"], management: [MGMT4] };
    node = new NsProcess(nodeNs, join(dir, "node.ts"), [nodeIf, JSON.stringify(opts), String(PORT)]);
    client = new NsProcess(clientNs, join(dir, "client.ts"), []);
    const [n] = await Promise.all([node.waitReady(), client.waitReady()]);
    if (n.error) throw new Error(`openXdp: ${n.error}`);
    mode = String(n.mode);
    // Fill the neighbour caches first: with several IPv6 sources resolving at
    // once the kernel sometimes loses the first SYN of one of them, and its
    // retransmission comes 1 s later. The policy is off, so this is not shedding.
    const warm = await Promise.all(
      [[OTHER4, NODE4], [HEALTH4, NODE4], [MGMT4, NODE4], [OTHER6, NODE6], [HEALTH6, NODE6]].map(([src, host]) =>
        client!.call({ op: "probe", src, host, port: PORT, timeoutMs: 3500 }).then((r) => (r.ok ? "" : `${src}: ${r.why}`)),
      ),
    );
    if (warm.some(Boolean)) throw new Error(`the namespaces do not connect with XDP off: ${warm.filter(Boolean).join(", ")}`);
    console.log(`xdp.test.ts: veth ${nodeIf} attached in ${mode} mode in ${n.attachMs} ms`);
  });

  afterAll(() => {
    node?.kill();
    client?.kill();
    // Deleting a namespace deletes its veth end, and with it the peer and the XDP program.
    sh(["ip", "netns", "del", nodeNs], true);
    sh(["ip", "netns", "del", clientNs], true);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const probe = (src: string, host = NODE4, timeoutMs = CONNECT_TIMEOUT_MS) =>
    client!.call({ op: "probe", src, host, port: PORT, timeoutMs }).then((r) => r.ok === true);
  const echo = (timeoutMs = CONNECT_TIMEOUT_MS) =>
    client!.call({ op: "echo", id: "established", timeoutMs }, timeoutMs + 5000).then((r) => r.ok === true);
  const set = async (policy: string, rateNewPerS?: number) => {
    const r = await node!.call({ op: "set", policy, rateNewPerS });
    if (r.error) throw new Error(String(r.error));
    return r;
  };
  const who = async () => {
    const [established, other, health, mgmt, other6, health6] = await Promise.all([
      echo(),
      probe(OTHER4),
      probe(HEALTH4),
      probe(MGMT4),
      probe(OTHER6, NODE6),
      probe(HEALTH6, NODE6),
    ]);
    return { established, other, health, mgmt, other6, health6 };
  };

  test("veth takes the program in native mode (driver XDP on Linux 6.x), the namespace's loopback (no driver XDP) only in generic mode", async () => {
    expect(mode).toBe("native");
    const r = await node!.call({ op: "open", id: "lo", ifname: "lo", opts: { healthcheck: [], management: [] } });
    expect(r.mode).toBe("generic");
    expect((await node!.call({ op: "close", id: "lo" })).ok).toBe(true);
  });

  test("off: every source connects; a connection is established before shedding starts", async () => {
    const opened = await client!.call({ op: "open", id: "established", src: OTHER4, host: NODE4, port: PORT, timeoutMs: 2000 });
    expect(opened.ok).toBe(true);
    expect(await who()).toEqual({ established: true, other: true, health: true, mgmt: true, other6: true, health6: true });
  });

  test("shed-new (Level 3): new connections fail, established and healthcheck traffic pass", async () => {
    const r = await set("shed-new");
    console.log(`xdp.test.ts: policy change took ${r.setUs} µs`);
    expect(await who()).toEqual({ established: true, other: false, health: true, mgmt: true, other6: false, health6: true });
    const c = await node!.call({ op: "counters" });
    const byPolicy = c.byPolicy as Record<string, { passed: number; dropped: number }>;
    expect(byPolicy["shed-new"]!.dropped).toBeGreaterThanOrEqual(2);
    expect(byPolicy["shed-new"]!.passed).toBeGreaterThan(0);
    expect(c.dropped).toBe(Object.values(byPolicy).reduce((s, v) => s + v.dropped, 0));
  });

  test("block-all (Level 4): established traffic stops, healthcheck and management still connect", async () => {
    await set("block-all");
    expect(await who()).toEqual({ established: false, other: false, health: true, mgmt: true, other6: false, health6: true });
  });

  test("isolate (Level 5): only management connects", async () => {
    await set("isolate");
    expect(await who()).toEqual({ established: false, other: false, health: false, mgmt: true, other6: false, health6: false });
  });

  test("rate-new (the way down): at most the configured new connections per second", async () => {
    await set("rate-new", 2);
    // Five SYNs within milliseconds fall in one one-second window: two pass.
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => probe(OTHER4, NODE4, 500)));
    expect(results.filter(Boolean)).toHaveLength(2);
  });

  test("off again: everyone connects, and the established connection resumes", async () => {
    await set("off");
    const t0 = performance.now();
    // Segments dropped at block-all are retransmitted with exponential backoff; bounded at 8 s.
    expect(await echo(8000)).toBe(true);
    console.log(`xdp.test.ts: established connection resumed ${Math.round(performance.now() - t0)} ms after off`);
    expect(await who()).toEqual({ established: true, other: true, health: true, mgmt: true, other6: true, health6: true });
  });

  test("close() detaches the program (twice is harmless)", async () => {
    await set("isolate");
    expect(await probe(OTHER4)).toBe(false);
    const r = await node!.call({ op: "close" });
    expect(r.ok).toBe(true);
    expect(sh(["ip", "-n", nodeNs, "link", "show", nodeIf])).not.toContain("prog/xdp");
    expect(await who()).toEqual({ established: true, other: true, health: true, mgmt: true, other6: true, health6: true });
  });

  test("hosa's own program left on the interface is replaced, and close() leaves its successor alone", async () => {
    const opts = { healthcheck: [HEALTH4], management: [MGMT4] };
    expect((await node!.call({ op: "open", id: "first", opts })).mode).toBe("native");
    // As `hosa quarantine enter` does beside a running agent.
    expect((await node!.call({ op: "open", id: "second", opts })).mode).toBe("native");
    await node!.call({ op: "set", id: "second", policy: "isolate" });
    expect((await node!.call({ op: "close", id: "first" })).ok).toBe(true);
    // The first control's close must not have detached the second one's program.
    expect(sh(["ip", "-n", nodeNs, "link", "show", nodeIf])).toContain("prog/xdp");
    expect(await probe(OTHER4)).toBe(false);
    // Crash recovery: a new process detaches what a dead one left behind.
    expect((await node!.call({ op: "detach" })).detached).toBe(true);
    expect((await node!.call({ op: "detach" })).detached).toBe(false);
    expect(await probe(OTHER4)).toBe(true);
    expect((await node!.call({ op: "close", id: "second" })).ok).toBe(true);
  });

  test("someone else's XDP program is refused unless replaceExisting", async () => {
    // A stand-in for another tool's program (a load balancer's, a CNI's): it passes everything.
    const src = join(dir, "foreign.bpf.c");
    writeFileSync(src, `__attribute__((section("xdp"), used)) int foreign_pass(void *ctx) { return 2; }\nchar _license[] __attribute__((section("license"), used)) = "GPL";\n`);
    sh(["clang", "-O2", "-target", "bpf", "-c", src, "-o", join(dir, "foreign.bpf.o")]);
    sh(["ip", "-n", nodeNs, "link", "set", "dev", nodeIf, "xdpdrv", "obj", join(dir, "foreign.bpf.o"), "sec", "xdp"]);
    const opts = { healthcheck: [HEALTH4], management: [MGMT4] };
    const refused = await node!.call({ op: "open", id: "refused", opts });
    expect(refused.error).toBe(
      `cannot attach XDP to ${nodeIf}: XDP program "foreign_pass" is already attached in native mode and is not hosa's; only cgroup actions are available`,
    );
    expect(refused.exitCode).toBe(EXIT.UNSUPPORTED);
    expect(sh(["ip", "-n", nodeNs, "link", "show", nodeIf])).toContain("foreign_pass");
    expect((await node!.call({ op: "open", id: "replacing", opts: { ...opts, replaceExisting: true } })).mode).toBe("native");
    await node!.call({ op: "set", id: "replacing", policy: "shed-new" });
    expect(await probe(OTHER4)).toBe(false);
    expect((await node!.call({ op: "close", id: "replacing" })).ok).toBe(true);
    expect(sh(["ip", "-n", nodeNs, "link", "show", nodeIf])).not.toContain("prog/xdp");
  });

  test("without CAP_BPF the kernel's refusal comes back as one line: only cgroup actions are available", () => {
    // Run as nobody with no capabilities, in the node namespace so that nothing could touch the host if it did attach.
    const home = join(dir, "nobody");
    mkdirSync(home);
    chownSync(home, 65534, 65534);
    chmodSync(dir, 0o755);
    const script = join(home, "unprivileged.ts");
    writeFileSync(
      script,
      `import { openXdp } from ${JSON.stringify(join(root, "src/respond/xdp.ts"))};
try { openXdp("lo", { healthcheck: [], management: [] }); console.log(JSON.stringify({ attached: true })); }
catch (e) { console.log(JSON.stringify({ error: e.message, exitCode: e.exitCode })); }`,
    );
    chmodSync(script, 0o644);
    const r = Bun.spawnSync(
      ["ip", "netns", "exec", nodeNs, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", process.execPath, script],
      { env: { ...process.env, HOSA_LIB_DIR: join(home, "lib") }, stdout: "pipe", stderr: "pipe" },
    );
    const out = JSON.parse(r.stdout.toString().trim() || `{"stderr":${JSON.stringify(r.stderr.toString())}}`);
    expect(out.exitCode).toBe(EXIT.UNSUPPORTED);
    expect(out.error).toStartWith("cannot attach XDP to lo: ");
    expect(out.error).toContain("Operation not permitted");
    expect(out.error).toEndWith("; only cgroup actions are available");
    expect(out.error).not.toContain("\n");
    expect(sh(["ip", "-n", nodeNs, "link", "show", "lo"])).not.toContain("prog/xdp");
  });
});
