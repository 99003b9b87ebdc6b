// The Node side of the benchmark: socket.io 4.8 with its defaults (the `ws`
// engine, in-memory adapter, no compression), the same application as
// bench/goserver:
//   "echo"  (args..., ack)     acks with the same arguments
//   "blast" ({count,payload})  emits "m" payload to room "all" count times, then acks
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createClient } from "redis";
import { createAdapter } from "@socket.io/redis-adapter";

const [host, port] = (process.env.ADDR || "127.0.0.1:3000").split(":");
const httpServer = createServer();
const options = {};
if (process.env.REDIS_URL) {
  // Cluster mode: @socket.io/redis-adapter, as the Go server's -redis flag.
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  options.adapter = createAdapter(pub, sub);
}
const io = new Server(httpServer, options);

io.on("connection", (socket) => {
  socket.join("all");
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("blast", (req, ack) => {
    for (let i = 0; i < req.count; i++) io.to("all").emit("m", req.payload);
    if (typeof ack === "function") ack("done");
  });
});

httpServer.listen(Number(port), host, () => console.log(`listening ${host}:${port}`));
