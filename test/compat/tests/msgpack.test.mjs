// The official client configured with socket.io-msgpack-parser 3.x against
// the server's /msgpack/ path (the runtime's parser: msgpack; the Node
// fixture's parser option): events, binary values (Buffer, ArrayBuffer,
// typed arrays, nested), acks both ways, over polling, WebSocket and the
// upgrade. A client of the other parser is disconnected.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import msgpackParser from "socket.io-msgpack-parser";
import { TEST_TIMEOUT, TRANSPORTS, ask, client, connect, guard, hex, isBinary, once, unique, upgraded } from "../lib/helpers.mjs";

const MSGPACK = { path: "/msgpack/", parser: msgpackParser };

/**
 * The arguments with every binary value replaced by {hex}. The Node server
 * passes an ArrayBuffer on as an ArrayBuffer (msgpack ext 0) and the runtime
 * as a Buffer (msgpack bin): both are binary with the same bytes (README,
 * "Differences from Node socket.io").
 */
function shape(x) {
  if (isBinary(x)) return { hex: hex(x) };
  if (Array.isArray(x)) return x.map(shape);
  if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, shape(v)]));
  return x;
}

/** Arguments mixing every binary type with JSON, at the top level and nested. */
function sent() {
  return [
    Buffer.from([1, 2, 3, 255]),
    new Uint8Array([9, 8]).buffer,
    { name: "file", body: { deep: [new Uint8Array([0]), Buffer.alloc(0)] }, n: 12345, ok: true, f: 1.5, neg: -70000 },
    "text é☃",
    new Uint16Array([0x0102, 0x0304]),
    null,
    Buffer.alloc(70_000, 7),
  ];
}

for (const { name, opts } of TRANSPORTS) {
  describe(`socket.io-msgpack-parser over ${name}`, () => {
    test("connects and the handshake's CONNECT reply is read", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...MSGPACK, ...opts });
      assert.equal(typeof socket.id, "string");
      if (name === "upgrade") await upgraded(socket);
      const who = await ask(socket, "whoami");
      assert.equal(who.id, socket.id);
      assert.equal(who.nsp, "/");
    });

    test("events with JSON and binary values are echoed with the same values and bytes", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...MSGPACK, ...opts });
      if (name === "upgrade") await upgraded(socket);
      const got = once(socket, "echo");
      socket.emit("echo", ...sent());
      assert.deepEqual(shape(await got), shape(sent()));
    });

    test("client→server ack carries binary back", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...MSGPACK, ...opts });
      const args = await guard(new Promise((resolve) => socket.emit("echo-ack", ...sent(), (...res) => resolve(res))), "ack");
      assert.deepEqual(shape(args), shape(sent()));
      const res = await ask(socket, "bin-hex", Buffer.from([5, 6]), { bin: new Uint8Array([7]).buffer, list: [Buffer.from("ab")], text: "x" });
      assert.deepEqual(res, { a: "0506", bin: "07", list: ["6162"], text: "x" });
    });

    test("server→client emitWithAck, JSON and binary answers", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...MSGPACK, ...opts });
      socket.on("ask", (...args) => args.pop()({ got: args }));
      socket.on("ask-bin", (b, o, ack) => {
        const ok = isBinary(b) && isBinary(o.nested) && hex(b) === hex(o.nested);
        ack(ok ? Buffer.from(hex(b), "hex").reverse() : Buffer.from("bad"));
      });
      assert.deepEqual(await ask(socket, "ask-client", "question", 7, { deep: [true] }), {
        ok: true,
        response: { got: ["question", 7, { deep: [true] }] },
      });
      assert.deepEqual(await ask(socket, "ask-client-bin", "0102aabb"), { ok: true, hex: "bbaa0201" });
    });

    test("relayed to a room: the other member receives the binary values", TEST_TIMEOUT, async (t) => {
      const a = await connect(t, "/", { ...MSGPACK, ...opts });
      const b = await connect(t, "/", { ...MSGPACK, ...opts });
      if (name === "upgrade") await Promise.all([upgraded(a), upgraded(b)]);
      const room = unique("msgpack");
      await ask(b, "join", room);
      const got = once(b, "room-msg");
      a.emit("to-room", room, ...sent());
      assert.deepEqual(shape(await got), shape(sent()));
    });
  });
}

describe("parser mismatch", () => {
  test("a default-parser client at the msgpack server is disconnected", TEST_TIMEOUT, async (t) => {
    const socket = client(t, "/", { path: "/msgpack/", transports: ["websocket"] });
    const err = await guard(
      new Promise((resolve) => {
        socket.once("connect", () => resolve(new Error("connected")));
        socket.io.once("close", (reason) => resolve(reason));
      }),
      "close",
    );
    assert.equal(err, "transport close");
  });

  test("a msgpack client at the default server is disconnected", TEST_TIMEOUT, async (t) => {
    const socket = client(t, "/", { parser: msgpackParser, transports: ["websocket"] });
    const err = await guard(
      new Promise((resolve) => {
        socket.once("connect", () => resolve(new Error("connected")));
        socket.io.once("close", (reason) => resolve(reason));
      }),
      "close",
    );
    assert.equal(err, "transport close");
  });
});

