// Engine.IO v4 over raw HTTP long-polling (fetch): handshake, error answers,
// limits, CORS, the sticky cookie, overlapping polls and the payload format.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  BASE,
  EIO_URL,
  TEST_TIMEOUT,
  decodePayload,
  guard,
  handshake,
  poll,
  pollUntil,
  post,
  rawSocketIOSession,
} from "../lib/helpers.mjs";

const RECOVERY_URL = `${BASE}/recovery/`;
const ALLOWED = "http://allowed.test";
const DENIED = "http://denied.test";

/**
 * Asserts that the server closed session sid: polls answer with at most a
 * close packet (a server-side close may deliver "1" in the next GET), then
 * 400 {"code":1,"message":"Session ID unknown"}.
 */
async function assertSessionClosed(sid) {
  for (let i = 0; i < 2; i++) {
    const r = await poll(sid);
    if (r.status === 400) {
      assert.deepEqual(JSON.parse(r.body), { code: 1, message: "Session ID unknown" });
      return;
    }
    assert.equal(r.status, 200);
    const packets = decodePayload(r.body).filter((p) => p !== "6");
    assert.deepEqual(packets, ["1"], `a closed session answers only a close packet, got ${JSON.stringify(r.body)}`);
  }
  assert.fail("the session still answers polls after its close packet");
}

describe("engine.io handshake", () => {
  test("open packet has exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", TEST_TIMEOUT, async () => {
    const { open, res, body } = await handshake();
    assert.equal(body[0], "0");
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 20000);
    assert.equal(open.maxPayload, 100000);
    assert.match(res.headers.get("content-type"), /^text\/plain; ?charset=utf-8$/i);
  });

  test("every handshake gets a new sid", TEST_TIMEOUT, async () => {
    const a = await handshake();
    const b = await handshake();
    assert.notEqual(a.open.sid, b.open.sid);
  });
});

describe("engine.io error answers", () => {
  const cases = [
    { name: "unknown transport", query: "EIO=4&transport=foo", code: 0, message: "Transport unknown" },
    { name: "missing transport", query: "EIO=4", code: 0, message: "Transport unknown" },
    { name: "unknown sid", query: "EIO=4&transport=polling&sid=doesnotexist", code: 1, message: "Session ID unknown" },
    { name: "POST handshake", query: "EIO=4&transport=polling", method: "POST", body: "40", code: 2, message: "Bad handshake method" },
    { name: "PUT handshake", query: "EIO=4&transport=polling", method: "PUT", body: "40", code: 2, message: "Bad handshake method" },
    { name: "websocket transport without upgrade", query: "EIO=4&transport=websocket", code: 3, message: "Bad request" },
    { name: "EIO=3", query: "EIO=3&transport=polling", code: 5, message: "Unsupported protocol version" },
    { name: "EIO=5", query: "EIO=5&transport=polling", code: 5, message: "Unsupported protocol version" },
    { name: "missing EIO", query: "transport=polling", code: 5, message: "Unsupported protocol version" },
  ];
  for (const c of cases) {
    test(`${c.name} → 400 {"code":${c.code}}`, TEST_TIMEOUT, async () => {
      const res = await fetch(`${EIO_URL}?${c.query}`, { method: c.method ?? "GET", body: c.body });
      const text = await res.text();
      assert.equal(res.status, 400, `status for ${c.query}: body ${text}`);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(JSON.parse(text), { code: c.code, message: c.message });
    });
  }

  test("plain GET with transport=websocket for a polling session → 400 {code 3}", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const res = await fetch(`${EIO_URL}?EIO=4&transport=websocket&sid=${open.sid}`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 3, message: "Bad request" });
  });
});

describe("engine.io polling limits", () => {
  test("POST body over maxHttpBufferSize → 413", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const big = await post(open.sid, "4" + "x".repeat(100_000));
    assert.equal(big.status, 413);
  });

  test("the session stays usable after a 413", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const big = await post(open.sid, "4" + "x".repeat(100_000));
    assert.equal(big.status, 413);
    const ok = await post(open.sid, "4" + "x".repeat(99_999));
    assert.equal(ok.status, 200, `POST after the 413: ${ok.body}`);
    assert.equal(ok.body, "ok");
  });

  test("POST body of exactly maxHttpBufferSize is accepted with 200 ok", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const r = await post(open.sid, "4" + "x".repeat(99_999));
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok");
  });

  test("a second concurrent GET poll → 400 and the session is closed", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const first = poll(open.sid);
    // The first GET has nothing to return yet and stays pending; make sure it reached the server.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await poll(open.sid);
    assert.equal(second.status, 400);
    const firstDone = await guard(first, "the pending poll to end");
    assert.equal(firstDone.status, 200);
    assert.ok(decodePayload(firstDone.body).includes("1"), `pending poll got close packet, body ${JSON.stringify(firstDone.body)}`);
    const after = await poll(open.sid);
    assert.equal(after.status, 400);
    assert.deepEqual(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });
  });

  test("POST with Content-Type application/octet-stream → 400", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const r = await post(open.sid, "4hello", { headers: { "content-type": "application/octet-stream" } });
    assert.equal(r.status, 400);
  });

  test("POST with Content-Type application/octet-stream closes the session", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    await post(open.sid, "4hello", { headers: { "content-type": "application/octet-stream" } });
    await assertSessionClosed(open.sid);
  });

  test("client close packet: the pending GET gets a noop, then the sid is unknown", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const pending = poll(open.sid);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const r = await post(open.sid, "1");
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok");
    const p = await guard(pending, "the pending poll to end");
    assert.equal(p.status, 200);
    assert.equal(p.body, "6");
    const after = await poll(open.sid);
    assert.equal(after.status, 400);
    assert.deepEqual(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });
  });

  test("POST answer is 200 ok", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const r = await post(open.sid, "40");
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok");
  });
});

describe("engine.io polling payloads", () => {
  test("several packets in one POST, joined by \\x1e, are all handled in order", TEST_TIMEOUT, async () => {
    const sid = await rawSocketIOSession();
    const r = await post(sid, ['42["echo","a"]', '42["echo","b"]', '42["echo","c"]'].join("\x1e"));
    assert.equal(r.status, 200);
    const seen = await pollUntil(sid, (p) => p === '42["echo","c"]');
    const echoes = seen.filter((p) => p.startsWith('42["echo"'));
    assert.deepEqual(echoes, ['42["echo","a"]', '42["echo","b"]', '42["echo","c"]']);
  });

  test("binary attachments POSTed as b<base64> reach the server as bytes", TEST_TIMEOUT, async () => {
    const sid = await rawSocketIOSession();
    const header =
      '452-7["bin-hex",{"_placeholder":true,"num":0},{"bin":{"_placeholder":true,"num":1},"list":[],"text":"raw"}]';
    const body = [header, "b" + Buffer.from([1, 2, 3]).toString("base64"), "b" + Buffer.from([255, 0]).toString("base64")];
    const r = await post(sid, body.join("\x1e"));
    assert.equal(r.status, 200);
    const seen = await pollUntil(sid, (p) => p.startsWith("437"));
    const ack = seen.at(-1);
    assert.deepEqual(JSON.parse(ack.slice(3)), [{ a: "010203", bin: "ff00", list: [], text: "raw" }]);
  });

  test("server binary: one GET holds the BINARY_EVENT and its b<base64> attachments joined by \\x1e", TEST_TIMEOUT, async () => {
    const sid = await rawSocketIOSession();
    const header =
      '453-["bin-echo",{"_placeholder":true,"num":0},{"bin":{"_placeholder":true,"num":1},"list":[{"_placeholder":true,"num":2}],"text":"t"}]';
    const attachments = [Buffer.from([1, 2, 3]), Buffer.from([4]), Buffer.from("hello")];
    const r = await post(sid, [header, ...attachments.map((b) => "b" + b.toString("base64"))].join("\x1e"));
    assert.equal(r.status, 200);
    // Poll until the packet arrives; it must arrive in one response with its attachments after it.
    const body = await guard(
      (async () => {
        for (;;) {
          const g = await poll(sid);
          assert.equal(g.status, 200);
          if (decodePayload(g.body).some((p) => p.startsWith("45"))) return g.body;
        }
      })(),
      "the bin-echo packet",
    );
    assert.match(body, /\x1e/);
    const packets = decodePayload(body);
    const i = packets.findIndex((p) => p.startsWith("45"));
    const m = /^453-(\[.*\])$/.exec(packets[i]);
    assert.ok(m, `binary event header: ${packets[i]}`);
    const data = JSON.parse(m[1]);
    assert.equal(data[0], "bin-echo");
    const ph = (num) => ({ _placeholder: true, num });
    const nums = [data[1].num, data[2].bin.num, data[2].list[0].num];
    assert.deepEqual(data[1], ph(nums[0]));
    assert.deepEqual(data[2], { bin: ph(nums[1]), list: [ph(nums[2])], text: "t" });
    assert.deepEqual([...nums].sort(), [0, 1, 2]);
    const got = packets.slice(i + 1, i + 4);
    for (const p of got) assert.match(p, /^b[A-Za-z0-9+/=]*$/);
    const bytes = got.map((p) => Buffer.from(p.slice(1), "base64").toString("hex"));
    assert.deepEqual(
      nums.map((n) => bytes[n]),
      attachments.map((b) => b.toString("hex")),
    );
  });
});

describe("engine.io CORS", () => {
  test("allowed origin gets Access-Control-Allow-Origin and credentials", TEST_TIMEOUT, async () => {
    const res = await fetch(`${EIO_URL}?EIO=4&transport=polling`, { headers: { origin: ALLOWED } });
    await res.text();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
  });

  test("disallowed origin gets no Access-Control-Allow-Origin", TEST_TIMEOUT, async () => {
    const res = await fetch(`${EIO_URL}?EIO=4&transport=polling`, { headers: { origin: DENIED } });
    await res.text();
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });

  test("preflight from an allowed origin", TEST_TIMEOUT, async () => {
    const res = await fetch(`${EIO_URL}?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { origin: ALLOWED, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    await res.text();
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    const methods = (res.headers.get("access-control-allow-methods") ?? "").split(/\s*,\s*/);
    assert.ok(methods.includes("GET") && methods.includes("POST"), `allow-methods: ${methods}`);
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /content-type/i);
  });

  test("preflight from a disallowed origin gets no Access-Control-Allow-Origin", TEST_TIMEOUT, async () => {
    const res = await fetch(`${EIO_URL}?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { origin: DENIED, "access-control-request-method": "POST" },
    });
    await res.text();
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });
});

describe("engine.io cookie", () => {
  test("handshake sets io=<sid>; Path=/; HttpOnly; SameSite=Lax", TEST_TIMEOUT, async () => {
    const { open, res } = await handshake();
    assert.equal(res.headers.get("set-cookie"), `io=${open.sid}; Path=/; HttpOnly; SameSite=Lax`);
  });

  test("later polls of the session set no cookie", TEST_TIMEOUT, async () => {
    const { open } = await handshake();
    const r = await post(open.sid, "40");
    assert.equal(r.headers.get("set-cookie"), null);
    await pollUntil(open.sid, (p) => p.startsWith("40"));
    const pending = poll(open.sid);
    await post(open.sid, "1");
    const g = await pending;
    assert.equal(g.headers.get("set-cookie"), null);
  });

  test("the server without the cookie option sets none", TEST_TIMEOUT, async () => {
    const { res } = await handshake(RECOVERY_URL);
    assert.equal(res.headers.get("set-cookie"), null);
  });
});
