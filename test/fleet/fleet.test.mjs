// Fleet operations with real processes: socketfleet-runtime processes on one real redis-server behind HAProxy
// (leastconn, cookie stickiness, /readyz health checks), driven by FLEET_CLIENTS (default 2,000) official
// socket.io-client clients that keep emitting with acks and receiving room broadcasts. The scenarios run in
// order on one fleet:
//   1. drain one process: its clients reconnect to the survivors at a bounded rate, none gives up, no acked
//      emit is lost, no broadcast is missed within a connection;
//   2. the drained process comes back and a fourth one is added (two empty processes, as after a scale-up);
//      shedding each loaded process's excess over the fair share brings the new ones to the fair share;
//   3. rolling restart of every process (SIGTERM, drain, exit, start again with a changed config): clients
//      always find a server, no acked emit is lost, no broadcast is missed within a connection.
// Numbers go to stdout and, with FLEET_RESULTS=<file>, to a Markdown section for bench/RESULTS.md.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import {
  ClientFleet, HandshakeRate, Runtime, Ticker, assertNoLoss, post, sleep, startHAProxy, startRedis, startWebhook, tempDir, waitUntil,
} from "./lib/fleet.mjs";

const CLIENTS = Number(process.env.FLEET_CLIENTS ?? 2000);
const POLLING_SHARE = 0.1; // 10% of the clients start on long-polling (sticky cookie) and upgrade
const EMIT_EVERY_MS = 4000;
const TICK_EVERY_MS = 250;
const DRAIN_WINDOW_S = 12;
const DRAIN_RATE = 80; // drain.ratePerSecond: the bound on transport closes per second of one process
const REBALANCE_THRESHOLD = 0.2; // a process within 20% of the fair share is balanced

const results = { clients: CLIENTS, started: new Date().toISOString() };
let dir, redis, haproxy, webhook, clients, ticker, runtimes = [];

function runtimeConfig() {
  return `redis:
  url: ${redis.url}
relay:
  enabled: true
  rooms: ["fleet:*"]
webhook:
  url: ${webhook.url}
  events: [work]
  maxConcurrent: 4096
  timeout: 10s
publish:
  enabled: true
  listener: admin
drain:
  window: ${DRAIN_WINDOW_S}s
  ratePerSecond: ${DRAIN_RATE}
  stickyCookie: SERVERID
log:
  level: warn
`;
}

/** The publisher sends ticks through a running process that is not about to leave. */
let publisher = null;
function usePublisher(exclude) {
  publisher = runtimes.find((r) => r !== exclude && r.running);
}

async function counts() {
  const out = {};
  for (const r of runtimes.filter((r) => r.running)) out[r.name] = (await r.stats()).connectedClients.total;
  return out;
}

const sum = (c) => Object.values(c).reduce((a, b) => a + b, 0);

/** settledCounts waits until the running processes hold `want` sessions in all; it returns their counts, how
 * many sessions too many they held at first (`stale`) and how long those took to go. */
async function settledCounts(want, limitMs) {
  const start = Date.now();
  const stale = sum(await counts()) - want;
  const settled = await waitUntil(`the processes hold ${want} sessions`, async () => {
    const c = await counts();
    if (sum(c) !== want) throw new Error(`${sum(c)} sessions: ${JSON.stringify(c)}`);
    return c;
  }, limitMs, 500);
  return { counts: settled, stale, seconds: (Date.now() - start) / 1000 };
}

function assertFleetNoLoss(r, what) {
  assertNoLoss(assert, r, what);
  assert.deepEqual(ticker.errors, [], `${what}: publishing failed`);
}

describe("fleet", { concurrency: false }, () => {
  before(async () => {
    dir = tempDir();
    redis = await startRedis(dir);
    webhook = await startWebhook();
    for (const name of ["s1", "s2", "s3", "s4"]) runtimes.push(await new Runtime(name, dir, runtimeConfig()).init());
    for (const r of runtimes.slice(0, 3)) await r.start();
    haproxy = await startHAProxy(dir, runtimes);
    usePublisher();
    clients = new ClientFleet(haproxy.url, { emitEveryMs: EMIT_EVERY_MS, pollingShare: POLLING_SHARE });
    await clients.add(CLIENTS);
    const r = await clients.allConnected("start");
    results.startCounts = await counts();
    results.pollingClients = r.pollingConnected;
    ticker = new Ticker((seq) => post(`${publisher.admin}/v1/emit`, { rooms: ["fleet:all"], event: "tick", args: [seq] }), TICK_EVERY_MS);
    ticker.start();
    await sleep(2000); // traffic flowing before the first scenario
  });

  after(async () => {
    ticker?.stop();
    await clients?.close();
    for (const r of runtimes) if (r.running) r.proc.kill("SIGKILL");
    haproxy?.stop();
    redis?.stop();
    await webhook?.stop();
    writeResults();
    if (process.env.FLEET_KEEP_LOGS) console.log(`logs in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });

  test("drain one process: its clients move to the survivors at a bounded rate, nothing lost", async () => {
    const victim = runtimes[0];
    usePublisher(victim);
    const accepts = new HandshakeRate(runtimes.filter((r) => r.running && r !== victim)).start();
    const before = await victim.stats();
    const start = Date.now();
    await post(`${victim.admin}/drain`);
    const code = await victim.exited.then(([c]) => c);
    const drainSeconds = (Date.now() - start) / 1000;
    assert.equal(code, 0, "the drained process exits cleanly");
    const r = await clients.allConnected("after the drain");
    await accepts.stop();
    assertFleetNoLoss(r, "drain");
    // Each close is one reconnect; the process closes at most DRAIN_RATE sessions per second, in jittered
    // batches, and the clients' randomized backoff spreads the reconnects further. The handshakes the
    // survivors accept over any two seconds stay within the drain rate + 50%; a stampede (a process's
    // clients at once) is far above. The clients' own view is reported too (their event loops lag under load).
    const bound = Math.ceil(DRAIN_RATE * 1.5);
    const { peak: serverPeak2s, accepted } = accepts.peak(2000);
    const { peak, peak2s, seconds, connects: moved } = clients.peakPerSecond(start);
    assert.ok(serverPeak2s <= bound, `the survivors accepted ${serverPeak2s} handshakes/s over two seconds, above the bound ${bound}/s (drain rate ${DRAIN_RATE}/s; clients saw ${peak2s}/s over 2 s, ${peak}/s over 1 s)`);
    // Every client of the drained process reconnected (all clients are connected, the survivors serve them
    // all, below); the reconnects counted must match the sessions it held, less the few sessions whose client
    // had already left (a server keeps a session until its ping timeout).
    const held = before.connectedClients.total;
    assert.ok(moved >= Math.floor(held * 0.99), `only ${moved} reconnects for ${held} drained sessions`);
    // The survivors then serve exactly every client. A session whose client already left it (say, a
    // long-polling client that gave up on a slow handshake and retried) lives until the heartbeat reclaims
    // it, within pingInterval + pingTimeout (45 s by default); a leaked session would stay.
    const { counts: after, stale, seconds: staleSeconds } = await settledCounts(CLIENTS, 60000);
    results.drain = { drained: held, drainSeconds, reconnects: moved, accepted, serverPeak2s, peak, peak2s, seconds, bound, survivors: after, stale, staleSeconds };
  });

  test("scale-up: shedding the loaded processes' excess fills the new ones to the fair share", async () => {
    const [s1, , , s4] = runtimes;
    await s1.start();
    await s4.start();
    usePublisher();
    await sleep(1000); // HAProxy health checks (every 250 ms) put both back into rotation
    const beforeShed = await counts();
    const total = Object.values(beforeShed).reduce((a, b) => a + b, 0);
    const fair = Math.ceil(total / runtimes.length);
    const start = Date.now();
    const sheds = {};
    for (const r of runtimes) {
      const excess = beforeShed[r.name] - fair;
      if (excess > 0) {
        sheds[r.name] = excess;
        await post(`${r.admin}/shed?count=${excess}`);
      }
    }
    const within = (n) => Math.abs(n - total / runtimes.length) <= REBALANCE_THRESHOLD * (total / runtimes.length);
    const balanced = await waitUntil("the new processes at the fair share", async () => {
      const c = await counts();
      return within(c.s1) && within(c.s4) ? c : false;
    }, 60000, 250);
    const rebalanceSeconds = (Date.now() - start) / 1000;
    const r = await clients.allConnected("after the shed");
    assertFleetNoLoss(r, "shed");
    results.rebalance = { beforeShed, sheds, fair, balanced, rebalanceSeconds, settled: await counts() };
  });

  test("rolling restart of every process: clients always find a server, no acked emit or broadcast lost", async () => {
    const start = Date.now();
    const steps = [];
    for (const r of runtimes) {
      usePublisher(r);
      const t0 = Date.now();
      const held = (await r.stats()).connectedClients.total;
      const code = await r.terminate();
      assert.equal(code, 0, `${r.name} exits cleanly after its drain`);
      // The new "version": a changed config (a larger message size limit), same ports.
      await r.start("maxHttpBufferSize: 2000000\n");
      steps.push({ name: r.name, held, seconds: (Date.now() - t0) / 1000 });
      await sleep(500); // back in HAProxy's rotation
    }
    usePublisher();
    const r = await clients.allConnected("after the rolling restart");
    const { peak } = clients.peakPerSecond(start);
    assertFleetNoLoss(r, "rolling restart");

    // Quiesce: stop emitting, wait for every emit's ack, then compare with what the webhook saw.
    const { missing, report: done } = await clients.settleEmits(webhook);
    assert.equal(done.failed, 0, `${done.failed} emits failed`);
    assert.equal(missing, 0, `${missing} acknowledged emits never reached the webhook`);
    results.rolling = { steps, seconds: (Date.now() - start) / 1000, peak, final: await counts() };
    results.totals = { emitsSent: done.sent, emitsAcked: done.acked, webhookCalls: webhook.calls(), ticks: ticker.seq, ticksReceived: done.ticks, gaps: done.gaps.length, gaveUp: done.gaveUp };
  });
});

function writeResults() {
  const lines = [
    `clients ${results.clients} (${results.pollingClients ?? "?"} on polling+upgrade with the sticky cookie)`,
    results.drain && `drain: ${results.drain.drained} clients left s1 in ${results.drain.drainSeconds}s; survivors accepted ${results.drain.accepted} handshakes, peak ${results.drain.serverPeak2s}/s over 2 s (bound ${results.drain.bound}/s); clients saw ${results.drain.peak2s}/s over 2 s, ${results.drain.peak}/s over 1 s, over ${results.drain.seconds}s; survivors ${JSON.stringify(results.drain.survivors)} (${results.drain.stale} stale sessions, gone after ${results.drain.staleSeconds}s)`,
    results.rebalance && `rebalance: before ${JSON.stringify(results.rebalance.beforeShed)}, shed ${JSON.stringify(results.rebalance.sheds)}, fair ${results.rebalance.fair}; balanced in ${results.rebalance.rebalanceSeconds}s: ${JSON.stringify(results.rebalance.settled)}`,
    results.rolling && `rolling restart: ${results.rolling.steps.map((s) => `${s.name} ${s.held} clients ${s.seconds}s`).join(", ")}; total ${results.rolling.seconds}s; reconnect peak ${results.rolling.peak}/s`,
    results.totals && `totals: ${JSON.stringify(results.totals)}`,
  ].filter(Boolean);
  console.log("fleet results:\n  " + lines.join("\n  "));
  if (!process.env.FLEET_RESULTS || !results.totals) return;
  const d = results.drain, rb = results.rebalance, rr = results.rolling, t = results.totals;
  const md = `## Fleet operations (test/fleet)

Real processes: 4 \`socketfleet-runtime\` processes (at most 3 serving at once before the scale-up), one
\`redis-server\`, HAProxy 2.6 (\`balance leastconn\`, \`cookie SERVERID insert indirect nocache preserve\`, \`/readyz\`
checks every 250 ms) and ${results.clients} official \`socket.io-client\` 4.8 clients in 2 Node processes
(${results.pollingClients} on polling + upgrade with the sticky cookie, the rest WebSocket only), each joining a room,
receiving a broadcast every ${TICK_EVERY_MS} ms and emitting with acks (\`retries: 20, ackTimeout: 4000\`) every
${EMIT_EVERY_MS / 1000} s. Drain: \`window: ${DRAIN_WINDOW_S}s\`, \`ratePerSecond: ${DRAIN_RATE}\`. Run by \`make test-fleet\`
(\`FLEET_RESULTS=... test/fleet/run.sh\`) on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${results.started}.

| scenario | measured |
|---|---|
| drain one process | ${d.drained} clients handed over in ${d.drainSeconds.toFixed(1)} s; the survivors accepted ${d.accepted} handshakes, at most **${d.serverPeak2s}/s** over 2 s (bound ${d.bound}/s = drain rate + 50%; the clients saw ${d.peak2s}/s over 2 s, ${d.peak}/s in their busiest second); 0 gave up; ${d.stale} stale sessions at the survivors (clients that had already left them), gone after ${d.staleSeconds.toFixed(1)} s |
| scale-up + shed | before ${fmtCounts(rb.beforeShed)}; shed ${fmtCounts(rb.sheds)} (fair share ${rb.fair}); new processes within 20% of the fair share after **${rb.rebalanceSeconds.toFixed(1)} s**; settled ${fmtCounts(rb.settled)} |
| rolling restart (4 processes, changed config) | ${rr.steps.map((s) => `${s.name}: ${s.held} clients, ${s.seconds.toFixed(1)} s`).join("; ")}; reconnect peak ${rr.peak}/s |
| losses over the whole run | emits sent ${t.emitsSent}, acked ${t.emitsAcked}, **failed ${t.emitsSent - t.emitsAcked}**, every acked emit seen by the webhook; broadcasts ${t.ticks}, **gaps within a connection ${t.gaps}**; clients that gave up ${t.gaveUp} |
`;
  fs.writeFileSync(process.env.FLEET_RESULTS, md);
}

function fmtCounts(o) {
  return Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");
}
