// Rooms and broadcasts: join/leave, socket.to(room) (sender excluded),
// to(room).except(room), broadcast to everyone and to everyone but the sender.
//
// "Did not receive" is proven without sleeping: after the broadcast under
// test, a marker is sent to the same client through the same server path
// (one Engine.IO session delivers in order), so anything the server had sent
// before the marker has arrived by the time the marker does.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, TRANSPORTS, ask, collect, connect, once, unique } from "../lib/helpers.mjs";

/** Waits until each socket received a "broadcast" carrying marker (sent by from to everyone). */
async function barrier(from, sockets) {
  const marker = unique("marker");
  const waits = sockets.map((s) => once(s, "broadcast", { filter: (m) => m === marker }));
  from.emit("broadcast", marker);
  await Promise.all(waits);
}

for (const { name, opts } of TRANSPORTS) {
  describe(`rooms over ${name}`, () => {
    test("join shows in the socket's rooms; leave removes it", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", opts);
      const room = unique("room");
      await ask(socket, "join", room);
      assert.deepEqual((await ask(socket, "whoami")).rooms, [room, socket.id].sort());
      await ask(socket, "leave", room);
      assert.deepEqual((await ask(socket, "whoami")).rooms, [socket.id]);
    });

    test("socket.to(room) reaches the room members except the sender", TEST_TIMEOUT, async (t) => {
      const [a, b, c, outsider] = await Promise.all([1, 2, 3, 4].map(() => connect(t, "/", opts)));
      const room = unique("room");
      await Promise.all([a, b, c].map((s) => ask(s, "join", room)));
      const got = [a, b, c, outsider].map((s) => collect(s, "room-msg"));
      const arrivals = [b, c].map((s) => once(s, "room-msg", { filter: (m) => m === "hello room" }));
      a.emit("to-room", room, "hello room", { n: 1 });
      const [bArgs, cArgs] = await Promise.all(arrivals);
      assert.deepEqual(bArgs, ["hello room", { n: 1 }]);
      assert.deepEqual(cArgs, ["hello room", { n: 1 }]);
      await barrier(a, [a, b, c, outsider]);
      assert.deepEqual(got[0], [], "sender excluded");
      assert.deepEqual(got[3], [], "non-member excluded");
      assert.equal(got[1].length, 1);
      assert.equal(got[2].length, 1);
    });

    test("to(room).except(room2) skips members of room2, includes the sender", TEST_TIMEOUT, async (t) => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(t, "/", opts)));
      const room = unique("room");
      const muted = unique("muted");
      await Promise.all([a, b, c].map((s) => ask(s, "join", room)));
      await ask(c, "join", muted);
      const got = [a, b, c].map((s) => collect(s, "room-msg"));
      const arrivals = [a, b].map((s) => once(s, "room-msg", { filter: (m) => m === "not for muted" }));
      a.emit("to-room-except", room, muted, "not for muted");
      await Promise.all(arrivals);
      await barrier(a, [a, b, c]);
      assert.deepEqual(got[2], [], "member of the except room excluded");
      assert.equal(got[0].length, 1);
      assert.equal(got[1].length, 1);
    });

    test("after leave, room broadcasts no longer arrive", TEST_TIMEOUT, async (t) => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(t, "/", opts)));
      const room = unique("room");
      await Promise.all([b, c].map((s) => ask(s, "join", room)));
      await ask(b, "leave", room);
      const got = collect(b, "room-msg");
      const arrival = once(c, "room-msg");
      a.emit("to-room", room, "after leave");
      assert.deepEqual(await arrival, ["after leave"]);
      await barrier(a, [b]);
      assert.deepEqual(got, []);
    });

    test("broadcast to everyone includes the sender", TEST_TIMEOUT, async (t) => {
      const sockets = await Promise.all([1, 2, 3].map(() => connect(t, "/", opts)));
      const msg = unique("all");
      const arrivals = sockets.map((s) => once(s, "broadcast", { filter: (m) => m === msg }));
      sockets[0].emit("broadcast", msg, [1, 2]);
      for (const args of await Promise.all(arrivals)) assert.deepEqual(args, [msg, [1, 2]]);
    });

    test("socket.broadcast reaches everyone but the sender", TEST_TIMEOUT, async (t) => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(t, "/", opts)));
      const msg = unique("others");
      const aGot = collect(a, "broadcast");
      const arrivals = [b, c].map((s) => once(s, "broadcast", { filter: (m) => m === msg }));
      a.emit("broadcast-others", msg);
      await Promise.all(arrivals);
      // a's own echo is the marker: the broadcast, if sent to a, would precede it
      const echo = once(a, "echo");
      a.emit("echo", "marker");
      await echo;
      assert.deepEqual(
        aGot.filter((x) => x[0] === msg),
        [],
      );
    });

    test("rooms are per namespace", TEST_TIMEOUT, async (t) => {
      const room = unique("room");
      const [mainA, mainB, chatA, chatB] = await Promise.all([
        connect(t, "/", opts),
        connect(t, "/", opts),
        connect(t, "/chat", opts),
        connect(t, "/chat", opts),
      ]);
      await Promise.all([mainA, mainB, chatA, chatB].map((s) => ask(s, "join", room)));
      const mainGot = collect(mainB, "room-msg");
      const arrival = once(chatB, "room-msg");
      chatA.emit("to-room", room, "chat only");
      assert.deepEqual(await arrival, ["chat only"]);
      await barrier(mainA, [mainB]);
      assert.deepEqual(mainGot, []);
    });
  });
}
