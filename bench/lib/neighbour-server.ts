// The neighbour: a small HTTP service in its own cgroup whose latency shows
// what an episode does to the rest of the node. Each request does a little
// real work (hash 64 KiB) so CPU and memory pressure show in its latency.
// Run as `bun bench/lib/neighbour-server.ts <port>`; prints `listening <port>`.
const port = Number(process.argv[2] ?? 0);
const block = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch() {
    const h = new Bun.CryptoHasher("sha256");
    h.update(block);
    return new Response(h.digest("hex"));
  },
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});

export {};
