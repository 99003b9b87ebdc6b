// Malformed packets and reserved event names close the connection (socket.io-parser
// 4.2 validation rules), over WebSocket and over polling. Valid edge cases don't.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, decodePayload, guard, poll, pollUntil, post, rawSocketIOSession } from "../lib/helpers.mjs";
import { openSocketIO } from "../lib/rawws.mjs";

const BAD = [
  { name: "reserved event connect", packet: '42["connect"]' },
  { name: "reserved event connect_error", packet: '42["connect_error"]' },
  { name: "reserved event disconnect", packet: '42["disconnect"]' },
  { name: "reserved event disconnecting", packet: '42["disconnecting"]' },
  { name: "reserved event newListener", packet: '42["newListener"]' },
  { name: "reserved event removeListener", packet: '42["removeListener"]' },
  { name: "event payload is an object", packet: '42{"a":1}' },
  { name: "event payload is an empty array", packet: "42[]" },
  { name: "event name is an object", packet: "42[{}]" },
  { name: "event payload is invalid JSON", packet: '42["a"' },
  { name: "trailing garbage after the payload", packet: '42["echo"]extra' },
  { name: "unknown socket.io packet type", packet: "49" },
  { name: "non-numeric socket.io packet type", packet: "4x" },
  { name: "empty socket.io packet", packet: "4" },
  { name: "DISCONNECT with a payload", packet: '41{"x":1}' },
  { name: "CONNECT with a string payload", packet: '40"str"' },
  { name: "CONNECT with invalid JSON", packet: '40{"a":1' },
  { name: "more attachments than maxAttachments (10)", packet: '4511-["x"]' },
  { name: "unknown engine.io packet type", packet: "9x" },
];

describe("malformed packets over WebSocket close the connection", () => {
  for (const c of BAD) {
    test(`${c.name}: ${c.packet}`, TEST_TIMEOUT, async (t) => {
      const { socket } = await openSocketIO(t);
      socket.send(c.packet);
      await socket.waitClosed();
      assert.ok(
        !socket.frames.some((f) => typeof f === "string" && f.startsWith("42")),
        `no event delivered: ${JSON.stringify(socket.frames)}`,
      );
    });
  }
});

describe("malformed packets over polling close the session", () => {
  for (const c of BAD.filter((b) => ["reserved event disconnect", "event payload is an object", "unknown socket.io packet type", "event payload is invalid JSON"].includes(b.name))) {
    test(`${c.name}: ${c.packet}`, TEST_TIMEOUT, async () => {
      const sid = await rawSocketIOSession();
      const pending = poll(sid);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const r = await post(sid, c.packet);
      assert.equal(r.status, 200);
      const p = await guard(pending, "the pending poll to end");
      assert.equal(p.status, 200);
      assert.ok(decodePayload(p.body).includes("1"), `close packet in ${JSON.stringify(p.body)}`);
      const after = await poll(sid);
      assert.equal(after.status, 400);
      assert.deepEqual(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });
    });
  }
});

describe("valid edge cases keep the connection", () => {
  test("numeric event name is accepted", TEST_TIMEOUT, async (t) => {
    const { socket } = await openSocketIO(t);
    socket.send('42[1,"x"]');
    socket.send('42["echo","after numeric"]');
    assert.equal(await socket.until((f) => f.startsWith("42")), '42["echo","after numeric"]');
  });

  test("ACK for an unknown id is ignored", TEST_TIMEOUT, async (t) => {
    const { socket } = await openSocketIO(t);
    socket.send('43999["nobody asked"]');
    socket.send('42["echo","after ack"]');
    assert.equal(await socket.until((f) => f.startsWith("42")), '42["echo","after ack"]');
  });

  test("CONNECT to an unknown namespace gets CONNECT_ERROR and keeps the session", TEST_TIMEOUT, async (t) => {
    const { socket } = await openSocketIO(t);
    socket.send("40/nope,");
    const err = await socket.until((f) => f.startsWith("44"), "CONNECT_ERROR");
    assert.equal(err.slice(0, 8), "44/nope,");
    assert.deepEqual(JSON.parse(err.slice(8)), { message: "Invalid namespace" });
    socket.send('42["echo","main still connected"]');
    assert.equal(await socket.until((f) => f.startsWith("42")), '42["echo","main still connected"]');
  });

  test("leaving the only namespace keeps the Engine.IO session; CONNECT again gets a new id", TEST_TIMEOUT, async (t) => {
    const { socket, connect } = await openSocketIO(t);
    socket.send("41");
    // Node's socket.io handles a namespace packet on the next tick of the read that carried it: a CONNECT read
    // together with the DISCONNECT still finds the old socket, and Node closes the connection ("invalid state").
    // A client that leaves and comes back does so in two reads; give the server one here too.
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.send("40");
    const again = await socket.until((f) => f.startsWith("40"), "second CONNECT reply");
    const sid = JSON.parse(again.slice(2)).sid;
    assert.match(sid, /^[A-Za-z0-9_-]{20}$/);
    assert.notEqual(sid, connect.sid);
    socket.send('42["echo","reconnected"]');
    assert.equal(await socket.until((f) => f.startsWith("42")), '42["echo","reconnected"]');
  });

  test("events over polling after a valid packet flow normally", TEST_TIMEOUT, async () => {
    const sid = await rawSocketIOSession();
    await post(sid, '425["echo-ack","p"]');
    const seen = await pollUntil(sid, (p) => p.startsWith("435"));
    assert.equal(seen.at(-1), '435["p"]');
  });
});
