// A Node socket.io 4.8 server with @socket.io/redis-adapter 8.3 (classic
// createAdapter or createShardedAdapter) or @socket.io/redis-streams-adapter 0.3, the reference side of the mixed-cluster test. Control
// events from a client make it act on the cluster:
//   "node-broadcast" (room|null, msg)  io.to(room).emit("from-node", msg)
//   "node-binary" (room)               io.to(room).emit("node-bin", <Buffer 040506>)
//   "to-room" (room, ...args)          socket.to(room).emit("room-msg", ...args) (the Go server does the same)
//   "node-fetch"                       emits "fetched" with the sorted ids of fetchSockets()
//   "node-ssa" (n)                     serverSideEmitWithAck("ping-go", n), emits "ssa" with the answers
//   "node-ack-broadcast"               io.timeout(5000).emitWithAck("ask"), emits "acks" with the answer count
//   "node-join" (room, newRoom)        io.in(room).socketsJoin(newRoom)
// Server-side event "ping-node" (n, ack) acks "pong from node <n>".
// Env: REDIS_URL, PORT, MODE (classic, the default; sharded: createShardedAdapter; streams:
// @socket.io/redis-streams-adapter 0.3), RECOVERY=1 (connectionStateRecovery, 60 s), PARSER=msgpack
// (socket.io-msgpack-parser for the clients). Prints "listening <port>" when ready.
import { createServer } from "node:http";
import { Server } from "socket.io";
import msgpackParser from "socket.io-msgpack-parser";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";

const pub = createClient({ url: process.env.REDIS_URL });
await pub.connect();
let adapter;
if (process.env.MODE === "streams") {
  adapter = createStreamsAdapter(pub);
} else {
  const sub = pub.duplicate();
  await sub.connect();
  adapter = process.env.MODE === "sharded" ? createShardedAdapter(pub, sub) : createAdapter(pub, sub);
}

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter,
  ...(process.env.PARSER === "msgpack" ? { parser: msgpackParser } : {}),
  ...(process.env.RECOVERY === "1" ? { connectionStateRecovery: { maxDisconnectionDuration: 60000 } } : {}),
});

io.on("connection", (socket) => {
  const room = socket.handshake.query.room;
  if (room) socket.join(room);
  socket.on("node-broadcast", (room, msg) => (room ? io.to(room) : io).emit("from-node", msg));
  socket.on("node-binary", (room) => io.to(room).emit("node-bin", Buffer.from([4, 5, 6])));
  socket.on("to-room", (room, ...args) => socket.to(room).emit("room-msg", ...args));
  socket.on("node-fetch", async () => {
    const sockets = await io.fetchSockets();
    socket.emit("fetched", sockets.map((s) => s.id).sort());
  });
  socket.on("node-ssa", async (n) => {
    const answers = await io.serverSideEmitWithAck("ping-go", n);
    socket.emit("ssa", answers);
  });
  socket.on("node-ack-broadcast", async () => {
    try {
      const answers = await io.timeout(5000).emitWithAck("ask");
      socket.emit("acks", answers.length);
    } catch (err) {
      socket.emit("acks", String(err));
    }
  });
  socket.on("node-join", (room, newRoom) => io.in(room).socketsJoin(newRoom));
});
io.on("ping-node", (n, ack) => ack(`pong from node ${n}`));

httpServer.listen(Number(process.env.PORT), "127.0.0.1", () => console.log(`listening ${process.env.PORT}`));
process.on("SIGTERM", () => process.exit(0));
process.on("uncaughtException", (err) => console.error("node-server:", err));
process.on("unhandledRejection", (err) => console.error("node-server:", err));
