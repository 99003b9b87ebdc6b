// socket.io-client (Node) over polling-only, WebSocket-only and the default
// polling→WebSocket upgrade: events, acknowledgements both ways, timeouts and
// binary payloads.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, TRANSPORTS, ask, collect, connect, hex, isBinary, once, upgraded } from "../lib/helpers.mjs";

/** Checks a bin-echo shape: (a, {bin, list, text}) with every byte array delivered as binary. */
function assertShape(args, want) {
  const [a, o] = args;
  assert.ok(isBinary(a), `first argument is binary: ${a}`);
  assert.ok(isBinary(o.bin), "nested bin is binary");
  assert.equal(o.list.length, want.list.length);
  for (const x of o.list) assert.ok(isBinary(x), "list element is binary");
  assert.deepEqual(
    { a: hex(a), bin: hex(o.bin), list: o.list.map(hex), text: o.text },
    { a: hex(want.a), bin: hex(want.bin), list: want.list.map(hex), text: want.text },
  );
}

for (const { name, opts } of TRANSPORTS) {
  describe(`socket.io-client over ${name}`, () => {
    test("connects; the Engine.IO transport is the expected one", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      assert.match(socket.id, /^[A-Za-z0-9_-]{20}$/);
      assert.notEqual(socket.id, socket.io.engine.id);
      if (name === "upgrade") {
        await upgraded(socket);
        assert.equal(socket.io.engine.transport.name, "websocket");
      } else {
        assert.equal(socket.io.engine.transport.name, name);
      }
      const who = await ask(socket, "whoami");
      assert.equal(who.id, socket.id);
      assert.equal(who.nsp, "/");
      assert.deepEqual(who.rooms, [socket.id]);
      assert.equal(who.recovered, false);
    });

    test("emit and receive JSON values (unicode included)", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const args = ["héllo ✓ 😀 \u2028 \"quoted\"", 42, -1.5, true, null, { a: [1, { b: "c" }], e: {} }, []];
      const got = once(socket, "echo");
      socket.emit("echo", ...args);
      assert.deepEqual(await got, args);
    });

    test("a large payload (60 kB) round-trips", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const big = "x".repeat(30_000) + "é".repeat(15_000);
      const got = once(socket, "echo");
      socket.emit("echo", big);
      assert.deepEqual(await got, [big]);
    });

    test("events arrive in order", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const got = collect(socket, "echo");
      const last = once(socket, "echo", { filter: (n) => n === 49 });
      for (let i = 0; i < 50; i++) socket.emit("echo", i);
      await last;
      got.stop();
      assert.deepEqual(
        got.map((a) => a[0]),
        Array.from({ length: 50 }, (_, i) => i),
      );
    });

    test("client→server ack with several arguments (callback form)", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const args = await new Promise((resolve, reject) => {
        socket.timeout(10_000).emit("echo-ack", 1, "two", { three: [3] }, null, (err, ...res) =>
          err ? reject(err) : resolve(res),
        );
      });
      assert.deepEqual(args, [1, "two", { three: [3] }, null]);
    });

    test("client→server ack (emitWithAck) resolves with the first argument", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      assert.deepEqual(await ask(socket, "echo-ack", { hello: "world" }, "second"), { hello: "world" });
    });

    test("client→server ack with no arguments", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const args = await new Promise((resolve) => socket.emit("echo-ack", (...res) => resolve(res)));
      assert.deepEqual(args, []);
    });

    test("server→client ack: server emitWithAck gets the client's answer", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      socket.on("ask", (...args) => {
        const ack = args.pop();
        ack({ got: args }, "ignored second argument");
      });
      const res = await ask(socket, "ask-client", "question", 7, { deep: [true] });
      assert.deepEqual(res, { ok: true, response: { got: ["question", 7, { deep: [true] }] } });
    });

    test("server-side timeout().emitWithAck to a client that does not answer", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const asked = once(socket, "ask-silent");
      const res = await ask(socket, "ask-client-timeout", 300);
      const silentArgs = await asked;
      assert.equal(typeof silentArgs.at(-1), "function", "the server asked for an ack");
      assert.deepEqual(res, { ok: false, error: "timeout" });
    });

    test("client-side emitWithAck timeout when the server never acks", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      await assert.rejects(socket.timeout(300).emitWithAck("no-such-event", 1), (err) => {
        assert.equal(err.message, "operation has timed out");
        return true;
      });
      // the connection is still fine afterwards
      assert.deepEqual(await ask(socket, "echo-ack", "alive"), "alive");
    });

    test("binary client→server: Buffer and Uint8Array, nested, several attachments", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const res = await ask(
        socket,
        "bin-hex",
        Buffer.from([0, 1, 2, 255]),
        { bin: new Uint8Array([10, 20]), list: [Buffer.from("abc"), new Uint8Array(0)], text: "nested" },
      );
      assert.deepEqual(res, { a: "000102ff", bin: "0a14", list: ["616263", ""], text: "nested" });
    });

    test("binary server→client event: nested, several attachments", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const want = { a: Buffer.from([1, 2, 3]), bin: Buffer.from([4, 5]), list: [Buffer.from([6]), Buffer.from([7, 8, 9])], text: "t" };
      const got = once(socket, "bin-echo");
      socket.emit("bin-echo", want.a, { bin: want.bin, list: want.list, text: want.text });
      assertShape(await got, want);
    });

    test("binary ack server→client (BINARY_ACK)", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const want = { a: new Uint8Array([200, 100]), bin: Buffer.alloc(1000, 7), list: [Buffer.from("z")], text: "acked" };
      const args = await new Promise((resolve) =>
        socket.emit("bin-echo", want.a, { bin: want.bin, list: want.list, text: want.text }, (...res) => resolve(res)),
      );
      assertShape(args, want);
    });

    test("binary server→client emitWithAck with a binary answer from the client", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      socket.on("ask-bin", (b, o, ack) => {
        // reply with the bytes reversed, proving both attachments arrived as binary
        const ok = isBinary(b) && isBinary(o.nested) && hex(b) === hex(o.nested);
        const bytes = Buffer.from(hex(b), "hex").reverse();
        ack(ok ? bytes : Buffer.from("bad"));
      });
      const res = await ask(socket, "ask-client-bin", "0102aabb");
      assert.deepEqual(res, { ok: true, hex: "bbaa0201" });
    });
  });
}
