// Namespaces: static, dynamic (regexp), invalid, connect middleware errors,
// the auth payload, and multiplexing several namespaces over one connection.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Manager } from "socket.io-client";
import { BASE, GUARD_MS, TEST_TIMEOUT, TRANSPORTS, ask, client, connect, connected, once } from "../lib/helpers.mjs";

/** Resolves with the first connect_error of a socket that must not connect. */
async function connectError(socket) {
  let connectedOnce = false;
  socket.on("connect", () => {
    connectedOnce = true;
  });
  const [err] = await once(socket, "connect_error");
  assert.equal(connectedOnce, false, "socket must not connect");
  assert.equal(socket.connected, false, "socket must not be connected");
  return err;
}

for (const { name, opts } of TRANSPORTS) {
  describe(`namespaces over ${name}`, () => {
    test("static namespace /chat", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/chat", opts);
      const who = await ask(socket, "whoami");
      assert.equal(who.nsp, "/chat");
      assert.equal(who.id, socket.id);
      assert.deepEqual(await ask(socket, "echo-ack", "in chat"), "in chat");
    });

    test("dynamic namespace matching /^\\/dyn-\\d+$/", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/dyn-42", opts);
      const who = await ask(socket, "whoami");
      assert.equal(who.nsp, "/dyn-42");
      const other = await connect(t, "/dyn-7", opts);
      assert.equal((await ask(other, "whoami")).nsp, "/dyn-7");
    });

    test("a name the regexp does not match gets connect_error Invalid namespace", TEST_TIMEOUT, async (t) => {
      const err = await connectError(client(t, "/dyn-abc", opts));
      assert.equal(err.message, "Invalid namespace");
    });

    test("unknown namespace gets connect_error Invalid namespace", TEST_TIMEOUT, async (t) => {
      const err = await connectError(client(t, "/does-not-exist", opts));
      assert.equal(err.message, "Invalid namespace");
      assert.equal(err.data, undefined);
    });

    test("connect middleware error reaches connect_error with message and data", TEST_TIMEOUT, async (t) => {
      const err = await connectError(client(t, "/private", { ...opts, auth: { token: "wrong" } }));
      assert.ok(err instanceof Error);
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { reason: "bad token", code: 4001 });
    });

    test("connect middleware accepts the right auth; auth is visible to the server", TEST_TIMEOUT, async (t) => {
      const auth = { token: "s3cret", user: { name: "ada", roles: ["a", "b"] }, n: 1.5 };
      const socket = await connect(t, "/private", { ...opts, auth });
      assert.deepEqual(await ask(socket, "auth"), auth);
      assert.equal((await ask(socket, "whoami")).nsp, "/private");
    });

    test("auth payload on the main namespace is echoed back; no auth gives {}", TEST_TIMEOUT, async (t) => {
      const withAuth = await connect(t, "/", { ...opts, auth: { token: "abc", list: [1, null, "x"] } });
      assert.deepEqual(await ask(withAuth, "auth"), { token: "abc", list: [1, null, "x"] });
      const without = await connect(t, "/", opts);
      assert.deepEqual(await ask(without, "auth"), {});
    });

    test("auth given as a function is sent on connect", TEST_TIMEOUT, async (t) => {
      const socket = await connect(t, "/", { ...opts, auth: (cb) => cb({ from: "function" }) });
      assert.deepEqual(await ask(socket, "auth"), { from: "function" });
    });

    test("several namespaces multiplexed over one Engine.IO connection", TEST_TIMEOUT, async (t) => {
      const manager = new Manager(BASE, { reconnection: false, timeout: GUARD_MS, ...opts });
      const main = manager.socket("/");
      const chat = manager.socket("/chat");
      const dyn = manager.socket("/dyn-1");
      const priv = manager.socket("/private", { auth: { token: "s3cret" } });
      t.after(() => {
        for (const s of [main, chat, dyn, priv]) s.disconnect();
        manager.engine?.close();
      });
      await Promise.all([main, chat, dyn, priv].map(connected));
      const who = await Promise.all([main, chat, dyn, priv].map((s) => ask(s, "whoami")));
      assert.deepEqual(
        who.map((w) => w.nsp),
        ["/", "/chat", "/dyn-1", "/private"],
      );
      assert.equal(new Set(who.map((w) => w.id)).size, 4, "one socket id per namespace");
      // an event on one namespace is not seen on another
      const chatEchoes = [];
      chat.on("echo", (...a) => chatEchoes.push(a));
      const got = once(main, "echo");
      main.emit("echo", "main only");
      assert.deepEqual(await got, ["main only"]);
      assert.deepEqual(await ask(chat, "echo-ack", "chat ok"), "chat ok");
      assert.deepEqual(chatEchoes, []);
    });

    test("leaving one namespace keeps the others on the same connection", TEST_TIMEOUT, async (t) => {
      const manager = new Manager(BASE, { reconnection: false, timeout: GUARD_MS, ...opts });
      const main = manager.socket("/");
      const chat = manager.socket("/chat");
      t.after(() => {
        main.disconnect();
        chat.disconnect();
        manager.engine?.close();
      });
      await Promise.all([main, chat].map(connected));
      const engineId = manager.engine.id;
      const observer = await connect(t, "/chat", opts);
      await ask(observer, "observe");
      const chatId = chat.id;
      const seen = once(observer, "peer-disconnect", { filter: (d) => d.id === chatId });
      chat.disconnect();
      const [info] = await seen;
      assert.deepEqual(info, { id: chatId, nsp: "/chat", reason: "client namespace disconnect" });
      assert.equal(manager.engine.id, engineId);
      assert.deepEqual(await ask(main, "echo-ack", "still here"), "still here");
    });
  });
}
