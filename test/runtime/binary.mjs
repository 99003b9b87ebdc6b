// Binary through the runtime's application layer with the official
// socket.io-client, across two runtimes on one Redis:
//
//   node binary.mjs '{"a":"http://..","b":"http://.."}'
//
// Client A (on runtime a) and client B (on runtime b) join the relay room
// "bin:1". Every line written to stdout is one JSON object, binary values
// described as {"bin":"<Node type>","hex":".."}:
//   {"type":"relay","args":[..]}      what B received when A relayed binary to the room
//   {"type":"await-publish"}          B waits for a "pub" event (the test publishes it)
//   {"type":"publish","args":[..]}    what B received from the publish API
//   {"type":"webhook","ack":[..]}     the acknowledgement A got for "bin:hook" (answered by the webhook)
//   {"type":"summary","ok":true}      last line
import { io } from "socket.io-client";

const opts = JSON.parse(process.argv[2] || "{}");
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const hex = (x) =>
  x instanceof ArrayBuffer ? Buffer.from(new Uint8Array(x)).toString("hex") : Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex");
const shape = (x) => {
  if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return { bin: Buffer.isBuffer(x) ? "Buffer" : x.constructor.name, hex: hex(x) };
  if (Array.isArray(x)) return x.map(shape);
  if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, shape(v)]));
  return x;
};
const once = (socket, event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
const connect = (url) =>
  new Promise((resolve, reject) => {
    const s = io(url, { forceNew: true, reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });

const timer = setTimeout(() => {
  out({ type: "summary", ok: false, error: "timeout" });
  process.exit(1);
}, opts.timeoutMs ?? 30000);

try {
  const a = await connect(opts.a);
  const b = await connect(opts.b);
  for (const s of [a, b]) {
    const res = await s.timeout(10000).emitWithAck("relay:join", "bin:1");
    if (!res.ok) throw new Error(`relay:join: ${JSON.stringify(res)}`);
  }

  const relayed = once(b, "file");
  const res = await a
    .timeout(10000)
    .emitWithAck("relay:emit", "bin:1", "file", Buffer.from([1, 2, 3, 255]), { nested: new Uint8Array([4, 5]).buffer, list: [Buffer.alloc(0)] }, "t");
  if (!res.ok) throw new Error(`relay:emit: ${JSON.stringify(res)}`);
  out({ type: "relay", args: shape(await relayed) });

  const published = once(b, "pub");
  out({ type: "await-publish" });
  out({ type: "publish", args: shape(await published) });

  const ack = await a.timeout(10000).emitWithAck("bin:hook", Buffer.from("hi"), { f: new Uint8Array([9]) });
  out({ type: "webhook", ack: shape([ack]) });

  a.close();
  b.close();
  clearTimeout(timer);
  out({ type: "summary", ok: true });
} catch (err) {
  out({ type: "summary", ok: false, error: String(err && err.message ? err.message : err) });
  process.exit(1);
}
