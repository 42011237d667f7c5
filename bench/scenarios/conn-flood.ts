// A bounded connection flood on loopback: opens TCP connections to a local
// server as fast as it can, holding them, until `max` are open or `seconds`
// have passed, then closes them all and exits.
//   bun bench/scenarios/conn-flood.ts <port> <max> <seconds>
const [port, max, seconds] = process.argv.slice(2).map(Number);
const start = performance.now();
const sockets: { end(): void }[] = [];
let failed = 0;
let last = -1;
while ((performance.now() - start) / 1000 < seconds) {
  const t = Math.floor((performance.now() - start) / 1000);
  if (t !== last) {
    last = t;
    console.log(`t=${t} open=${sockets.length} failed=${failed}`);
  }
  if (sockets.length >= max) {
    await Bun.sleep(50);
    continue;
  }
  const batch = Array.from({ length: 50 }, () =>
    Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, error() {} } }).then(
      (s) => {
        s.write("hi\n");
        sockets.push(s);
      },
      () => {
        failed++;
      },
    ),
  );
  await Promise.all(batch);
}
for (const s of sockets) s.end();
console.log(`done open=${sockets.length} failed=${failed}`);
process.exit(0);

export {};
