// The server a connection flood is aimed at: accepts TCP on loopback and
// keeps each connection until the peer closes it. Prints `listening <port>`.
let open = 0;
const server = Bun.listen({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  socket: {
    open() {
      open++;
    },
    data(s) {
      s.write("ok\n");
    },
    close() {
      open--;
    },
  },
});
console.log(`listening ${server.port}`);
setInterval(() => console.log(`open=${open}`), 1000);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});

export {};
