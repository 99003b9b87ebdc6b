// Binary stays binary through the server's application code: a handler that
// echoes its arguments as it received them (...args), acknowledges with them,
// relays them to a room, and connection state recovery replaying them. Every
// Buffer, ArrayBuffer and typed array a client sends, top level or nested,
// reaches the other side as binary (a Buffer in Node) with the same bytes.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, TRANSPORTS, ask, collect, connect, hex, once, unique, upgraded } from "../lib/helpers.mjs";

/** The arguments with every binary value replaced by {bin: <Node type>, hex}: comparable with deepEqual. */
function shape(x) {
  if (Buffer.isBuffer(x)) return { bin: "Buffer", hex: hex(x) };
  if (x instanceof ArrayBuffer) return { bin: "ArrayBuffer", hex: hex(x) };
  if (ArrayBuffer.isView(x)) return { bin: x.constructor.name, hex: hex(x) };
  if (Array.isArray(x)) return x.map(shape);
  if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, shape(v)]));
  return x;
}

/** What a Node client receives for sent(): every binary value as a Buffer of the same bytes. */
function received(args) {
  const asBuffer = (x) => {
    if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return { bin: "Buffer", hex: hex(x) };
    if (Array.isArray(x)) return x.map(asBuffer);
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, asBuffer(v)]));
    return x;
  };
  return args.map(asBuffer);
}

/** Arguments mixing every binary type with JSON, at the top level and nested. */
function sent() {
  return [
    Buffer.from([1, 2, 3, 255]),
    new Uint8Array([9, 8]).buffer,
    { name: "file", body: { deep: [new Uint8Array([0]), Buffer.alloc(0)] }, n: 12345, ok: true },
    "text",
    new Uint16Array([0x0102, 0x0304]),
    { $binary: "AQ==" },
  ];
}

for (const { name, opts } of TRANSPORTS) {
  describe(`binary through server code over ${name}`, () => {
    test("a handler's echo of its arguments keeps every binary value binary", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const got = once(socket, "echo");
      socket.emit("echo", ...sent());
      assert.deepEqual(shape(await got), received(sent()));
    });

    test("a handler's ack with the arguments it received keeps them binary", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const args = await new Promise((resolve) => socket.emit("echo-ack", ...sent(), (...res) => resolve(res)));
      assert.deepEqual(shape(args), received(sent()));
    });

    test("relayed to a room: the other members receive binary", TEST_TIMEOUT, async (t) => {
      const a = await connect(t, "/", opts);
      const b = await connect(t, "/", opts);
      if (name === "upgrade") await Promise.all([upgraded(a), upgraded(b)]);
      const room = unique("bin");
      await ask(b, "join", room);
      const got = once(b, "room-msg");
      a.emit("to-room", room, ...sent());
      assert.deepEqual(shape(await got), received(sent()));
    });

    test("missed binary events are replayed as binary by connection state recovery", TEST_TIMEOUT, async (t) => {
      const RECOVERY = { path: "/recovery/" };
      const helper = await connect(t, "/", { ...RECOVERY, transports: ["websocket"] });
      const socket = await connect(t, "/", { ...RECOVERY, ...opts });
      if (name === "upgrade") await upgraded(socket);
      const room = unique("bin-csr");
      await ask(socket, "join", room);
      const first = once(socket, "room-msg");
      helper.emit("to-room", room, "before");
      await first; // the client holds an offset

      const gone = once(socket, "disconnect");
      socket.io.engine.close();
      await gone;
      helper.emit("to-room", room, "missed", ...sent());
      assert.equal(await ask(helper, "echo-ack", "sync"), "sync");

      const got = collect(socket, "room-msg");
      const missed = once(socket, "room-msg", { filter: (m) => m === "missed" });
      socket.connect();
      const args = await missed;
      got.stop();
      assert.equal(socket.recovered, true);
      // The last argument is the recovery offset.
      assert.deepEqual(shape(args.slice(1, -1)), received(sent()));
      assert.equal(typeof args.at(-1), "string");
    });
  });
}
