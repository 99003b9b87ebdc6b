// The server-driven heartbeat, against the fixture's /heartbeat/ server
// (pingInterval 300 ms, pingTimeout 1000 ms): pings arrive, answered sessions
// live on, silent ones are closed with "ping timeout".

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, TEST_TIMEOUT, TRANSPORTS, ask, connect, decodePayload, guard, handshake, once, poll, post } from "../lib/helpers.mjs";
import { RawSocket } from "../lib/rawws.mjs";

const HB = { path: "/heartbeat/" };
const HB_URL = `${BASE}/heartbeat/`;
const HB_WS = `${BASE.replace(/^http/, "ws")}/heartbeat/`;

async function rawWS(t) {
  const s = new RawSocket(`${HB_WS}?EIO=4&transport=websocket`);
  t.after(() => s.close());
  await s.opened();
  const open = await s.next("the open packet");
  return { socket: s, open: JSON.parse(open.slice(1)) };
}

describe("heartbeat", () => {
  test("open packet advertises pingInterval 300 and pingTimeout 1000", TEST_TIMEOUT, async () => {
    const { open } = await handshake(HB_URL);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 1000);
  });

  test("WebSocket: the server pings; a client answering pongs stays connected", TEST_TIMEOUT, async (t) => {
    const { socket } = await rawWS(t);
    socket.send("40");
    const reply = await socket.next("CONNECT reply");
    assert.match(reply, /^40\{/);
    for (let i = 0; i < 4; i++) {
      assert.equal(await socket.next(`ping ${i + 1}`), "2");
      socket.send("3");
    }
    socket.send('42["echo","alive"]');
    assert.equal(await socket.until((f) => f.startsWith("42")), '42["echo","alive"]');
  });

  test("WebSocket: no pong → the server closes the connection, reason 'ping timeout'", TEST_TIMEOUT, async (t) => {
    const obs = await connect(t, "/", { ...HB, transports: ["websocket"] });
    await ask(obs, "observe");
    const { socket } = await rawWS(t);
    socket.send("40");
    const reply = await socket.next("CONNECT reply");
    const id = JSON.parse(reply.slice(2)).sid;
    const seen = once(obs, "peer-disconnect", { filter: (d) => d.id === id });
    assert.equal(await socket.next("the first ping"), "2");
    await socket.waitClosed();
    const [info] = await seen;
    assert.deepEqual(info, { id, nsp: "/", reason: "ping timeout" });
  });

  test("polling: pings arrive in GET answers and POSTed pongs keep the session", TEST_TIMEOUT, async () => {
    const { open } = await handshake(HB_URL);
    let pings = 0;
    await guard(
      (async () => {
        while (pings < 4) {
          const r = await poll(open.sid, { base: HB_URL });
          assert.equal(r.status, 200, `poll: ${r.body}`);
          for (const p of decodePayload(r.body)) {
            if (p === "2") {
              pings += 1;
              const pong = await post(open.sid, "3", { base: HB_URL });
              assert.equal(pong.status, 200);
            }
          }
        }
      })(),
      "four pings",
    );
    const r = await post(open.sid, "40", { base: HB_URL });
    assert.equal(r.status, 200);
  });

  for (const { name, opts } of TRANSPORTS) {
    test(`socket.io-client over ${name} answers pings and stays connected`, TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...HB, ...opts });
      let disconnected = false;
      socket.on("disconnect", () => {
        disconnected = true;
      });
      for (let i = 0; i < 4; i++) await once(socket.io.engine, "ping");
      assert.equal(disconnected, false);
      assert.equal(await ask(socket, "echo-ack", "after pings"), "after pings");
    });
  }
});
