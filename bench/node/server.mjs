// The Node side of the benchmark: socket.io 4.8 with its defaults (the `ws`
// engine, in-memory adapter, no compression), the same application as
// bench/goserver:
//   "echo"  (args..., ack)     acks with the same arguments
//   "blast" ({count,payload})  emits "m" payload to room "all" count times, then acks
// With REDIS_URL the server joins a cluster: @socket.io/redis-adapter (with
// ADAPTER=sharded its createShardedAdapter, sharded Pub/Sub), or with
// ADAPTER=streams @socket.io/redis-streams-adapter 0.3 with connection state
// recovery on (as the Go server's -redis and -adapter flags). Then POST /drain
// closes every Engine.IO session's transport without a Socket.IO DISCONNECT
// (the reason is "forced close", which socket.io counts as recoverable: the
// adapter persists each session for a reconnect to any server).
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";

const [host, port] = (process.env.ADDR || "127.0.0.1:3000").split(":");
const options = {};
if (process.env.REDIS_URL) {
  const pub = createClient({ url: process.env.REDIS_URL });
  await pub.connect();
  if (process.env.ADAPTER === "streams") {
    // The defaults of both: streams adapter options left empty, recovery for 2 minutes.
    options.adapter = createStreamsAdapter(pub);
    options.connectionStateRecovery = { maxDisconnectionDuration: 2 * 60 * 1000 };
  } else {
    const sub = pub.duplicate();
    await sub.connect();
    options.adapter = process.env.ADAPTER === "sharded" ? createShardedAdapter(pub, sub) : createAdapter(pub, sub);
  }
}

// socket.io passes the requests outside its path to this handler.
const httpServer = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/drain") {
    // What io.engine.close() does to the sessions, without closing the
    // WebSocket server: each one flushes its buffer, then closes its transport.
    for (const client of Object.values(io.engine.clients)) client.close();
    res.writeHead(202).end();
    return;
  }
  res.writeHead(404).end();
});
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
