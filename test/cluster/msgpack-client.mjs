// The official socket.io-client (Node) with socket.io-msgpack-parser for the mixed msgpack cluster test:
// connects over WebSocket to URL (argv[2]) with ?room=<argv[3]> and
//   prints one JSON line per happening: {"connect": <socket id>} on connect, {"event": <name>, "args": [...]}
//   on every event, binary values written as {"bin": <JS type>, "hex": <bytes>};
//   reads one JSON array per stdin line, [event, ...args], {"hex": <bytes>} values sent as Buffers, and emits it.
// It runs until killed.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const socket = io(process.argv[2], { transports: ["websocket"], query: { room: process.argv[3] }, parser: msgpackParser });
const print = (v) => process.stdout.write(JSON.stringify(v) + "\n");
const out = (x) => {
  if (x instanceof ArrayBuffer) return { bin: "ArrayBuffer", hex: Buffer.from(x).toString("hex") };
  if (ArrayBuffer.isView(x)) return { bin: x.constructor.name, hex: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex") };
  if (Array.isArray(x)) return x.map(out);
  if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, out(v)]));
  return x;
};
const inp = (x) => {
  if (Array.isArray(x)) return x.map(inp);
  if (x && typeof x === "object") {
    const keys = Object.keys(x);
    if (keys.length === 1 && keys[0] === "hex") return Buffer.from(x.hex, "hex");
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, inp(v)]));
  }
  return x;
};
socket.on("connect", () => print({ connect: socket.id }));
socket.on("connect_error", (err) => print({ connectError: err.message }));
socket.onAny((event, ...args) => print({ event, args: out(args) }));
createInterface({ input: process.stdin }).on("line", (line) => {
  const [event, ...args] = inp(JSON.parse(line));
  socket.emit(event, ...args);
});
process.on("SIGTERM", () => process.exit(0));
