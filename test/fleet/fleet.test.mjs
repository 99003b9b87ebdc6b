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
  ClientWorker, Runtime, post, sleep, startHAProxy, startRedis, startWebhook, tempDir, waitUntil,
} from "./lib/fleet.mjs";

const CLIENTS = Number(process.env.FLEET_CLIENTS ?? 2000);
const WORKERS = 2;
const POLLING_SHARE = 0.1; // 10% of the clients start on long-polling (sticky cookie) and upgrade
const EMIT_EVERY_MS = 4000;
const TICK_EVERY_MS = 250;
const DRAIN_WINDOW_S = 12;
const DRAIN_RATE = 80; // drain.ratePerSecond: the bound on transport closes per second of one process
const REBALANCE_THRESHOLD = 0.2; // a process within 20% of the fair share is balanced

const results = { clients: CLIENTS, started: new Date().toISOString() };
let dir, redis, haproxy, webhook, workers = [], runtimes = [];
let tick = 0, tickTimer = null, tickErrors = [];
const connectLog = []; // Date.now() of every client connect, from every report

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

/** The publisher sends the next tick through a running process that is not about to leave. */
let publisher = null;
async function publishTick() {
  const seq = tick + 1;
  try {
    await post(`${publisher.admin}/v1/emit`, { rooms: ["fleet:all"], event: "tick", args: [seq] });
    tick = seq;
  } catch (err) {
    tickErrors.push(`tick ${seq} via ${publisher.name}: ${err.message}`);
  }
}
function startTicks() {
  const loop = async () => {
    await publishTick();
    tickTimer = setTimeout(loop, TICK_EVERY_MS);
  };
  tickTimer = setTimeout(loop, TICK_EVERY_MS);
}
function usePublisher(exclude) {
  publisher = runtimes.find((r) => r !== exclude && r.running);
}

async function reports() {
  const rs = await Promise.all(workers.map((w) => w.report()));
  const sum = { total: 0, connected: 0, pollingConnected: 0, gaveUp: 0, joinErrors: 0, sent: 0, acked: 0, failed: 0, ticks: 0, gaps: [], acks: [] };
  for (const r of rs) {
    for (const k of ["total", "connected", "pollingConnected", "gaveUp", "joinErrors", "sent", "acked", "failed", "ticks"]) sum[k] += r[k];
    sum.gaps.push(...r.gaps);
    connectLog.push(...r.connectTimes);
    sum.acks.push(...r.acks);
  }
  return sum;
}

async function counts() {
  const out = {};
  for (const r of runtimes.filter((r) => r.running)) out[r.name] = (await r.stats()).connectedClients.total;
  return out;
}

/** peakPerSecond buckets the connects since `from` by whole seconds and returns the largest bucket. */
function peakPerSecond(from) {
  const buckets = new Map();
  for (const t of connectLog) {
    if (t < from) continue;
    const b = Math.floor((t - from) / 1000);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
  }
  return { peak: Math.max(0, ...buckets.values()), seconds: buckets.size };
}

async function allConnected(what) {
  return waitUntil(`${what}: all ${CLIENTS} clients connected`, async () => {
    const r = await reports();
    assert.equal(r.gaveUp, 0, `${r.gaveUp} clients gave up reconnecting`);
    return r.connected === CLIENTS ? r : false;
  }, 90000, 500);
}

function assertNoLoss(r, what) {
  assert.equal(r.gaveUp, 0, `${what}: ${r.gaveUp} clients gave up`);
  assert.equal(r.failed, 0, `${what}: ${r.failed} acked emits failed after retries`);
  assert.deepEqual(r.gaps.slice(0, 10), [], `${what}: ${r.gaps.length} broadcast gaps within a connection`);
  assert.deepEqual(tickErrors, [], `${what}: publishing failed`);
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
    const per = Math.ceil(CLIENTS / WORKERS);
    for (let w = 0; w < WORKERS; w++) {
      const n = Math.min(per, CLIENTS - w * per);
      workers.push(new ClientWorker(haproxy.url, n, w * per, POLLING_SHARE, EMIT_EVERY_MS));
    }
    await Promise.all(workers.map((w) => w.started));
    const r = await allConnected("start");
    results.startCounts = await counts();
    results.pollingClients = r.pollingConnected;
    startTicks();
    await sleep(2000); // traffic flowing before the first scenario
  });

  after(async () => {
    clearTimeout(tickTimer);
    await Promise.allSettled(workers.map((w) => w.close()));
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
    const before = await victim.stats();
    const start = Date.now();
    await post(`${victim.admin}/drain`);
    const code = await victim.exited.then(([c]) => c);
    const drainSeconds = (Date.now() - start) / 1000;
    assert.equal(code, 0, "the drained process exits cleanly");
    const r = await allConnected("after the drain");
    const { peak, seconds } = peakPerSecond(start);
    const moved = connectLog.filter((t) => t >= start).length;
    assertNoLoss(r, "drain");
    // Each close is one reconnect; the process closes at most DRAIN_RATE sessions per second. Reconnects
    // arrive after a randomized backoff, which only spreads them further; allow 50% for batch jitter. A
    // stampede (all of a process's clients at once) is far above this.
    const bound = Math.ceil(DRAIN_RATE * 1.5);
    assert.ok(peak <= bound, `peak reconnects ${peak}/s above the bound ${bound}/s (drain rate ${DRAIN_RATE}/s)`);
    assert.ok(moved >= before.connectedClients.total, `only ${moved} reconnects for ${before.connectedClients.total} drained clients`);
    const after = await counts();
    assert.equal(Object.values(after).reduce((a, b) => a + b, 0), CLIENTS, `survivors serve every client: ${JSON.stringify(after)}`);
    results.drain = { drained: before.connectedClients.total, drainSeconds, reconnects: moved, peak, seconds, bound, survivors: after };
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
    const r = await allConnected("after the shed");
    assertNoLoss(r, "shed");
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
    const r = await allConnected("after the rolling restart");
    const { peak } = peakPerSecond(start);
    assertNoLoss(r, "rolling restart");

    // Quiesce: stop emitting, wait for every emit's ack, then compare with what the webhook saw.
    await Promise.all(workers.map((w) => w.stopEmitting()));
    const done = await waitUntil("every emit acknowledged", async () => {
      const x = await reports();
      return x.acked + x.failed === x.sent ? x : false;
    }, 60000, 500);
    assert.equal(done.failed, 0, `${done.failed} emits failed`);
    let missing = 0;
    for (const [c, acked] of done.acks) {
      const seen = webhook.seen.get(c) ?? new Set();
      for (let n = 1; n <= acked; n++) if (!seen.has(n)) missing++;
    }
    assert.equal(missing, 0, `${missing} acknowledged emits never reached the webhook`);
    results.rolling = { steps, seconds: (Date.now() - start) / 1000, peak, final: await counts() };
    results.totals = { emitsSent: done.sent, emitsAcked: done.acked, webhookCalls: webhook.calls(), ticks: tick, ticksReceived: done.ticks, gaps: done.gaps.length, gaveUp: done.gaveUp };
  });
});

function writeResults() {
  const lines = [
    `clients ${results.clients} (${results.pollingClients ?? "?"} on polling+upgrade with the sticky cookie)`,
    results.drain && `drain: ${results.drain.drained} clients left s1 in ${results.drain.drainSeconds}s; reconnect peak ${results.drain.peak}/s (bound ${results.drain.bound}/s) over ${results.drain.seconds}s; survivors ${JSON.stringify(results.drain.survivors)}`,
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
| drain one process | ${d.drained} clients handed over in ${d.drainSeconds.toFixed(1)} s; reconnect peak **${d.peak}/s** at the survivors (bound ${d.bound}/s = drain rate + 50%); 0 gave up |
| scale-up + shed | before ${fmtCounts(rb.beforeShed)}; shed ${fmtCounts(rb.sheds)} (fair share ${rb.fair}); new processes within 20% of the fair share after **${rb.rebalanceSeconds.toFixed(1)} s**; settled ${fmtCounts(rb.settled)} |
| rolling restart (4 processes, changed config) | ${rr.steps.map((s) => `${s.name}: ${s.held} clients, ${s.seconds.toFixed(1)} s`).join("; ")}; reconnect peak ${rr.peak}/s |
| losses over the whole run | emits sent ${t.emitsSent}, acked ${t.emitsAcked}, **failed ${t.emitsSent - t.emitsAcked}**, every acked emit seen by the webhook; broadcasts ${t.ticks}, **gaps within a connection ${t.gaps}**; clients that gave up ${t.gaveUp} |
`;
  fs.writeFileSync(process.env.FLEET_RESULTS, md);
}

function fmtCounts(o) {
  return Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");
}
