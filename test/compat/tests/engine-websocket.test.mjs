// Engine.IO v4 over a raw WebSocket (the `ws` package): WebSocket-only
// sessions, the polling→WebSocket upgrade handshake, binary frames and limits.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, guard, handshake, poll, post } from "../lib/helpers.mjs";
import { RawSocket, WS_URL, openSocketIO, openWebSocket } from "../lib/rawws.mjs";

describe("engine.io websocket", () => {
  test("WebSocket-only handshake: open packet with no upgrades", TEST_TIMEOUT, async (t) => {
    const { open } = await openWebSocket(t);
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 20000);
    assert.equal(open.maxPayload, 100000);
  });

  test("CONNECT over WebSocket gets a socket id distinct from the Engine.IO sid", TEST_TIMEOUT, async (t) => {
    const { socket, open } = await openWebSocket(t);
    socket.send("40");
    const reply = await socket.until((f) => f.startsWith("40"), "CONNECT reply");
    const data = JSON.parse(reply.slice(2));
    assert.deepEqual(Object.keys(data), ["sid"]);
    assert.match(data.sid, /^[A-Za-z0-9_-]{20}$/);
    assert.notEqual(data.sid, open.sid);
  });

  test("upgrade: 2probe/3probe, pending poll gets a noop, 5 completes, polling is then refused", TEST_TIMEOUT, async (t) => {
    const { open } = await handshake();
    const pending = poll(open.sid);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ws = new RawSocket(`${WS_URL}?EIO=4&transport=websocket&sid=${open.sid}`);
    t.after(() => ws.close());
    await ws.opened();
    ws.send("2probe");
    assert.equal(await ws.next("3probe"), "3probe");
    const p = await guard(pending, "the pending poll to end");
    assert.equal(p.status, 200);
    assert.equal(p.body, "6");
    ws.send("5");
    // after the upgrade the session speaks WebSocket only
    ws.send("40");
    const reply = await ws.until((f) => f.startsWith("40"), "CONNECT reply over the upgraded WebSocket");
    assert.match(reply, /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
    const g = await poll(open.sid);
    assert.equal(g.status, 400);
    assert.deepEqual(JSON.parse(g.body), { code: 3, message: "Bad request" });
    const r = await post(open.sid, '42["echo","x"]');
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 3, message: "Bad request" });
    ws.send('42["echo","over ws"]');
    assert.equal(await ws.until((f) => f.startsWith("42")), '42["echo","over ws"]');
  });

  test("a second WebSocket for an upgrading or upgraded session completes its handshake, then is closed", TEST_TIMEOUT, async (t) => {
    const { open } = await handshake();
    const ws = new RawSocket(`${WS_URL}?EIO=4&transport=websocket&sid=${open.sid}`);
    t.after(() => ws.close());
    await ws.opened();
    ws.send("2probe");
    assert.equal(await ws.next("3probe"), "3probe");
    const conflict = async (what) => {
      const second = new RawSocket(`${WS_URL}?EIO=4&transport=websocket&sid=${open.sid}`);
      t.after(() => second.close());
      await second.opened(); // 101, not an HTTP error: a client without an error handler would crash on that
      second.send("2probe");
      await second.waitClosed();
      assert.ok(!second.frames.includes("3probe"), `${what}: second socket frames: ${JSON.stringify(second.frames)}`);
    };
    await conflict("while upgrading");
    ws.send("5");
    ws.send("40");
    await ws.until((f) => f.startsWith("40"));
    await conflict("after the upgrade");
    // the first one still works
    ws.send('42["echo","still here"]');
    assert.equal(await ws.until((f) => f.startsWith("42")), '42["echo","still here"]');
  });

  test("binary frames carry raw attachments (no type byte) in both directions", TEST_TIMEOUT, async (t) => {
    const { socket } = await openSocketIO(t);
    socket.send('452-1["bin-hex",{"_placeholder":true,"num":0},{"bin":{"_placeholder":true,"num":1},"list":[],"text":"x"}]');
    socket.send(Buffer.from([1, 2, 3]));
    socket.send(Buffer.from([4, 5]));
    const ack = await socket.until((f) => typeof f === "string" && f.startsWith("431"), "ack 1");
    assert.deepEqual(JSON.parse(ack.slice(3)), [{ a: "010203", bin: "0405", list: [], text: "x" }]);

    socket.send('452-["bin-echo",{"_placeholder":true,"num":0},{"bin":{"_placeholder":true,"num":1},"list":[],"text":"y"}]');
    socket.send(Buffer.from([9, 8, 7]));
    socket.send(Buffer.from([6]));
    const header = await socket.until((f) => typeof f === "string" && f.startsWith("45"), "bin-echo header");
    const m = /^452-(\[.*\])$/.exec(header);
    assert.ok(m, `header ${header}`);
    const data = JSON.parse(m[1]);
    assert.equal(data[0], "bin-echo");
    const nums = [data[1].num, data[2].bin.num];
    assert.deepEqual([...nums].sort(), [0, 1]);
    const frames = [await socket.next("attachment"), await socket.next("attachment")];
    for (const f of frames) assert.ok(Buffer.isBuffer(f), `attachment is a binary frame: ${f}`);
    assert.deepEqual(
      nums.map((n) => frames[n].toString("hex")),
      ["090807", "06"],
    );
  });

  test("a message over maxPayload closes the WebSocket with 1009", TEST_TIMEOUT, async (t) => {
    const { socket } = await openSocketIO(t);
    socket.send("4" + "x".repeat(100_000));
    const { code } = await socket.waitClosed();
    assert.equal(code, 1009);
  });
});
