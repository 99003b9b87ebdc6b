// Disconnections and their reasons, on both sides.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Manager } from "socket.io-client";
import { BASE, GUARD_MS, TEST_TIMEOUT, TRANSPORTS, connect, connected, once, upgraded, ask } from "../lib/helpers.mjs";

/** A socket in room "observers" of nsp: it receives peer-disconnect {id, nsp, reason}. */
async function observer(t, nsp = "/") {
  const s = await connect(t, nsp, { transports: ["websocket"] });
  await ask(s, "observe");
  return s;
}

function peerDisconnect(obs, id) {
  return once(obs, "peer-disconnect", { filter: (d) => d.id === id }).then(([d]) => d);
}

for (const { name, opts } of TRANSPORTS) {
  describe(`disconnect over ${name}`, () => {
    test("server socket.disconnect() → client reason 'io server disconnect', server 'server namespace disconnect'", TEST_TIMEOUT, async (t) => {
      const obs = await observer(t);
      const socket = await connect(t, "/", opts);
      if (name === "upgrade") await upgraded(socket);
      const id = socket.id;
      const seen = peerDisconnect(obs, id);
      const gone = once(socket, "disconnect");
      socket.emit("server-disconnect", false);
      const [reason] = await gone;
      assert.equal(reason, "io server disconnect");
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false, "no automatic reconnection after a server disconnect");
      assert.deepEqual(await seen, { id, nsp: "/", reason: "server namespace disconnect" });
    });

    test("server socket.disconnect(true) → client 'io server disconnect' and no reconnection", TEST_TIMEOUT, async (t) => {
      const obs = await observer(t);
      const socket = await connect(t, "/", { ...opts, reconnection: true, reconnectionDelay: 100 });
      if (name === "upgrade") await upgraded(socket);
      const id = socket.id;
      const seen = peerDisconnect(obs, id);
      const gone = once(socket, "disconnect");
      socket.emit("server-disconnect", true);
      const [reason] = await gone;
      assert.equal(reason, "io server disconnect");
      assert.equal(socket.active, false, "a reconnecting client must not reconnect after a server disconnect");
      assert.deepEqual(await seen, { id, nsp: "/", reason: "server namespace disconnect" });
    });

    test("server socket.disconnect(true) disconnects every namespace of the client and closes the connection", TEST_TIMEOUT, async (t) => {
      const obs = await observer(t);
      const manager = new Manager(BASE, { reconnection: false, timeout: GUARD_MS, ...opts });
      const main = manager.socket("/");
      const chat = manager.socket("/chat");
      t.after(() => {
        main.disconnect();
        chat.disconnect();
        manager.engine?.close();
      });
      await Promise.all([main, chat].map(connected));
      const id = main.id;
      const seen = peerDisconnect(obs, id);
      const reasons = Promise.all([once(main, "disconnect"), once(chat, "disconnect")]);
      const managerClosed = once(manager, "close");
      main.emit("server-disconnect", true);
      const [[r1], [r2]] = await reasons;
      assert.equal(r1, "io server disconnect");
      assert.equal(r2, "io server disconnect");
      assert.deepEqual(await seen, { id, nsp: "/", reason: "server namespace disconnect" });
      await managerClosed;
    });

    test("client socket.disconnect() → server reason 'client namespace disconnect'", TEST_TIMEOUT, async (t) => {
      const obs = await observer(t);
      const socket = await connect(t, "/", opts);
      if (name === "upgrade") await upgraded(socket);
      const id = socket.id;
      const seen = peerDisconnect(obs, id);
      const gone = once(socket, "disconnect");
      socket.disconnect();
      const [reason] = await gone;
      assert.equal(reason, "io client disconnect");
      assert.deepEqual(await seen, { id, nsp: "/", reason: "client namespace disconnect" });
    });

    test("client closes the Engine.IO connection → client 'forced close', server 'transport close'", TEST_TIMEOUT, async (t) => {
      const obs = await observer(t);
      const socket = await connect(t, "/", opts);
      if (name === "upgrade") await upgraded(socket);
      const id = socket.id;
      const seen = peerDisconnect(obs, id);
      const gone = once(socket, "disconnect");
      socket.io.engine.close();
      const [reason] = await gone;
      assert.equal(reason, "forced close");
      assert.deepEqual(await seen, { id, nsp: "/", reason: "transport close" });
    });

    test("after a transport close the client reconnects automatically (new socket id)", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...opts, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
      if (name === "upgrade") await upgraded(socket);
      const firstId = socket.id;
      const again = once(socket, "connect");
      socket.io.engine.close();
      await again;
      assert.notEqual(socket.id, firstId);
      assert.ok(!socket.recovered, "no recovery without connectionStateRecovery");
      assert.deepEqual(await ask(socket, "echo-ack", "back"), "back");
    });
  });
}
