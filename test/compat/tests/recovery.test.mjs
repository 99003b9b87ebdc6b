// Connection state recovery (the /recovery/ server of the fixture has
// connectionStateRecovery on): after a transport-level disconnection the
// client gets its id, rooms and the events it missed back.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, TRANSPORTS, ask, collect, connect, once, unique, upgraded } from "../lib/helpers.mjs";

const RECOVERY = { path: "/recovery/" };

/** A helper client on the recovery server that observes disconnections. */
async function helperClient(t) {
  const h = await connect(t, "/", { ...RECOVERY, transports: ["websocket"] });
  await ask(h, "observe");
  return h;
}

function peerDisconnect(obs, id) {
  return once(obs, "peer-disconnect", { filter: (d) => d.id === id }).then(([d]) => d);
}

for (const { name, opts } of TRANSPORTS) {
  describe(`connection state recovery over ${name}`, () => {
    test("events carry an offset as their last argument", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...RECOVERY, ...opts });
      const got = once(socket, "echo");
      socket.emit("echo", "x", 1);
      const args = await got;
      assert.equal(args.length, 3);
      assert.deepEqual(args.slice(0, 2), ["x", 1]);
      assert.equal(typeof args[2], "string");
      assert.ok(args[2].length > 0);
    });

    test("transport close, server emits meanwhile, reconnect: recovered with the missed events", TEST_TIMEOUT, async (t) => {
      const helper = await helperClient(t);
      const socket = await connect(t, "/", { ...RECOVERY, ...opts });
      if (name === "upgrade") await upgraded(socket);
      assert.ok(!socket.recovered);
      const room = unique("csr");
      await ask(socket, "join", room);

      // one event before the disconnection gives the client an offset
      const first = once(socket, "room-msg");
      helper.emit("to-room", room, "before");
      assert.equal((await first)[0], "before");

      const id = socket.id;
      const serverSaw = peerDisconnect(helper, id);
      const gone = once(socket, "disconnect");
      socket.io.engine.close();
      await gone;
      assert.equal((await serverSaw).reason, "transport close");

      // the server emits to the room while the client is away
      helper.emit("to-room", room, "missed-1", { n: 1 });
      helper.emit("to-room", room, "missed-2", { n: 2 });
      assert.equal(await ask(helper, "echo-ack", "sync"), "sync"); // the helper's events were handled

      const got = collect(socket, "room-msg");
      const lastMissed = once(socket, "room-msg", { filter: (m) => m === "missed-2" });
      const back = once(socket, "connect");
      socket.connect();
      await back;
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, id);
      await lastMissed;
      got.stop();
      assert.deepEqual(
        got.map((a) => a.slice(0, 2)),
        [
          ["missed-1", { n: 1 }],
          ["missed-2", { n: 2 }],
        ],
      );

      const who = await ask(socket, "whoami");
      assert.equal(who.id, id);
      assert.equal(who.recovered, true);
      assert.deepEqual(who.rooms, [id, room].sort());

      // live events still flow after the recovery
      const live = once(socket, "room-msg", { filter: (m) => m === "live" });
      helper.emit("to-room", room, "live");
      await live;
    });

    test("after a server-side disconnect the session is not recovered", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...RECOVERY, ...opts });
      const got = once(socket, "echo");
      socket.emit("echo", "offset please");
      await got;
      const id = socket.id;
      const gone = once(socket, "disconnect");
      socket.emit("server-disconnect", false);
      assert.equal((await gone)[0], "io server disconnect");
      const back = once(socket, "connect");
      socket.connect();
      await back;
      assert.ok(!socket.recovered);
      assert.notEqual(socket.id, id);
    });
  });
}
