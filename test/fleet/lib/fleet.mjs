// The real processes of the fleet tests: a redis-server, socketfleet-runtime processes on it, HAProxy in front
// with cookie stickiness and /readyz health checks, the event webhook the runtimes call, and the client
// workers. Every child process is killed when the test process exits, however it exits.
import { execFile, spawn, fork } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const runtimeBin = process.env.RUNTIME_BIN ?? path.resolve(here, "../../../bin/socketfleet-runtime");

const children = new Set();
function track(child) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try { c.kill("SIGKILL"); } catch { /* already gone */ }
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { killAll(); process.exit(1); });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** waitUntil polls check (async) every `every` ms until it returns a truthy value or `limit` ms pass. */
export async function waitUntil(what, check, limit = 60000, every = 200) {
  const deadline = Date.now() + limit;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${limit} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

export function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "socketfleet-fleet-"));
}

function logFile(dir, name) {
  return fs.openSync(path.join(dir, `${name}.log`), "a");
}

/** startRedis starts a throwaway redis-server (no persistence) on a free loopback port. stop kills it (its
 * data is gone); start brings a new, empty one up on the same port, as after a restart of a Redis pod. */
export async function startRedis(dir) {
  const port = await freePort();
  const out = logFile(dir, "redis");
  let proc = null;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async start() {
      proc = track(spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"],
        { stdio: ["ignore", out, out] }));
      await waitUntil("redis-server", () => new Promise((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
        s.once("data", (d) => { s.destroy(); resolve(d.toString().startsWith("+PONG")); });
        s.once("error", () => resolve(false));
      }));
    },
    async stop() {
      if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = once(proc, "exit");
      proc.kill("SIGKILL");
      await gone;
    },
  };
  await redis.start();
  return redis;
}

/** startSentinelRedis starts what a highly available Redis is: a primary, one replica and three Sentinels
 * (quorum 2, a primary is down after 1 s without answers), each a real redis-server process (Sentinels run as
 * `redis-server <conf> --sentinel`, which is what redis-sentinel is) on free loopback ports, and resolves once
 * the replica is in sync and every Sentinel knows the replica and the other Sentinels. killPrimary kills the
 * current primary (SIGKILL); primaryPort asks a Sentinel where the primary is. */
export async function startSentinelRedis(dir, name = "fleet") {
  const out = logFile(dir, "redis");
  const procs = [];
  const cli = (port, ...args) => new Promise((resolve, reject) => {
    execFile("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 3000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  const serve = async (port, args) => {
    procs.push({ port, proc: track(spawn("redis-server", args, { stdio: ["ignore", out, out] })) });
    await waitUntil(`redis-server on ${port}`, async () => (await cli(port, "PING")).trim() === "PONG", 10000);
  };
  // The primary writes an RDB file for the replica's full sync: it goes to the run's directory, not the cwd.
  const base = (port) => ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir, "--dbfilename", `dump-${port}.rdb`];
  const primary = await freePort();
  const replica = await freePort();
  await serve(primary, base(primary));
  await serve(replica, [...base(replica), "--replicaof", "127.0.0.1", String(primary)]);
  const sentinels = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${i}.conf`);
    fs.writeFileSync(conf, [
      `port ${port}`, "bind 127.0.0.1", `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`, "",
    ].join("\n"));
    await serve(port, [conf, "--sentinel"]);
    sentinels.push(port);
  }
  const field = (flat, key) => { const l = flat.split("\n"); return l[l.indexOf(key) + 1]; };
  await waitUntil("the replica in sync, the Sentinels aware of it and of each other", async () => {
    if (!(await cli(replica, "INFO", "replication")).includes("master_link_status:up")) return false;
    for (const s of sentinels) {
      const m = await cli(s, "SENTINEL", "master", name);
      if (field(m, "num-slaves") !== "1" || field(m, "num-other-sentinels") !== "2") return false;
    }
    return true;
  }, 30000, 250);
  const r = {
    name,
    sentinels: sentinels.map((p) => `127.0.0.1:${p}`),
    async primaryPort() {
      return Number((await cli(sentinels[0], "SENTINEL", "get-master-addr-by-name", name)).split("\n")[1]);
    },
    async killPrimary() {
      const port = await r.primaryPort();
      const p = procs.find((x) => x.port === port);
      const gone = once(p.proc, "exit");
      p.proc.kill("SIGKILL");
      await gone;
      return port;
    },
    async stop() {
      for (const { proc } of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
  };
  return r;
}

export async function getJSON(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}

/** ADMIN_TOKEN is the admin token of the fleets that have one (session forwarding needs it); post sends it to every
 * admin endpoint (a loopback admin listener without a token file ignores it). */
export const ADMIN_TOKEN = "fleet-admin-token";

export async function post(url, body) {
  const res = await fetch(url, {
    method: "POST", signal: AbortSignal.timeout(5000),
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Runtime is one socketfleet-runtime process on fixed ports (so a restart comes back behind the same HAProxy server). */
export class Runtime {
  constructor(name, dir, config) {
    Object.assign(this, { name, dir, config, proc: null });
  }

  async init() {
    this.port = await freePort();
    this.adminPort = await freePort();
    this.admin = `http://127.0.0.1:${this.adminPort}`;
    return this;
  }

  /** start writes the config (extra YAML lines appended) and starts the process; resolves when /readyz is 200. */
  async start(extraConfig = "") {
    const file = path.join(this.dir, `${this.name}.yaml`);
    fs.writeFileSync(file, this.config + extraConfig);
    const out = logFile(this.dir, this.name);
    this.proc = track(spawn(runtimeBin, ["--host", "127.0.0.1", "--port", String(this.port), "--admin-port", String(this.adminPort)],
      // The advertised address is used only with cluster.forwarding (the no-stickiness fleet).
      { env: { ...process.env, SOCKETFLEET_CONFIG: file, SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS: `127.0.0.1:${this.adminPort}` },
        stdio: ["ignore", out, out] }));
    this.exited = once(this.proc, "exit");
    await waitUntil(`${this.name} ready`, async () => (await fetch(`${this.admin}/readyz`)).ok, 20000);
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  stats() {
    return getJSON(`${this.admin}/stats`);
  }

  /** kill sends SIGKILL (a crash, an OOM kill): no drain, no session persisted; resolves once it is gone. */
  async kill() {
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  /** terminate sends SIGTERM (what the kubelet does) and resolves with the exit code once the process is gone. */
  async terminate(limitMs = 60000) {
    this.proc.kill("SIGTERM");
    const [code] = await Promise.race([this.exited, sleep(limitMs).then(() => { throw new Error(`${this.name} did not exit`); })]);
    return code;
  }
}

/** haproxyConfig renders the load balancer: leastconn, sticky cookie SERVERID (the runtime may expire it:
 * `preserve`), health checks on each runtime's admin /readyz so a draining process leaves rotation at once.
 * A check may take up to `timeout check`: a busy process that answers late is not taken out (that would send
 * its long-polling clients' requests to a process that does not know their session). With sticky false: no
 * cookie, every request balanced on its own with `balance` (the runtimes forward each other's sessions). */
export function haproxyConfig(port, runtimes, sticky = true, balance = "leastconn") {
  const servers = runtimes.map((r) =>
    `  server ${r.name} 127.0.0.1:${r.port} check port ${r.adminPort}${sticky ? ` cookie ${r.name}` : ""}`).join("\n");
  const backend = sticky ? "  balance leastconn\n  cookie SERVERID insert indirect nocache preserve" : `  balance ${balance}`;
  return `global
  maxconn 8000

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout check 2s

frontend fleet
  bind 127.0.0.1:${port}
  default_backend runtimes

backend runtimes
${backend}
  option httpchk GET /readyz
  default-server inter 250ms fall 1 rise 1
${servers}
`;
}

export async function startHAProxy(dir, runtimes, sticky = true, balance = "leastconn") {
  const port = await freePort();
  const cfg = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(cfg, haproxyConfig(port, runtimes, sticky, balance));
  const out = logFile(dir, "haproxy");
  const proc = track(spawn("haproxy", ["-db", "-f", cfg], { stdio: ["ignore", out, out] }));
  await waitUntil("haproxy", () => new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  }));
  return { port, url: `http://127.0.0.1:${port}`, stop: () => proc.kill("SIGKILL") };
}

/** startWebhook serves the runtimes' event webhook: every "work" emit is recorded and acknowledged. */
export async function startWebhook() {
  const seen = new Map(); // client id -> Set of n
  let calls = 0;
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
      calls++;
      try {
        const ev = JSON.parse(body);
        const { c, n } = ev.args[0];
        if (!seen.has(c)) seen.set(c, new Set());
        seen.get(c).add(n);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true, n }));
      } catch (err) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error: String(err) }));
      }
    });
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  return {
    url: `http://127.0.0.1:${srv.address().port}/work`,
    seen,
    calls: () => calls,
    stop: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }),
  };
}

/** ClientWorker is one child process running a share of the clients (see clients.mjs). */
export class ClientWorker {
  constructor(url, count, first, pollingShare, emitEveryMs, pollingOnlyShare = 0) {
    this.proc = track(fork(path.join(here, "clients.mjs"), [url, String(count), String(first), String(pollingShare), String(emitEveryMs), String(pollingOnlyShare)],
      { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    this.pending = [];
    this.proc.on("message", (m) => { const p = this.pending.shift(); if (p) p(m); });
    this.started = new Promise((r) => this.pending.push(r));
  }

  request(cmd, args = {}) {
    return new Promise((resolve, reject) => {
      this.pending.push(resolve);
      this.proc.send({ cmd, ...args }, (err) => err && reject(err));
    });
  }

  report() { return this.request("report"); }
  life(upTo) { return this.request("life", { upTo }); }
  explain(ids, upTo) { return this.request("explain", { ids, upTo }); }
  stopEmitting() { return this.request("stopEmitting"); }
  close() { return this.request("close"); }
}

/** ClientFleet is every client worker of a test seen as one: aggregated reports, the timeline of connects,
 * and the loss checks the fleet and e2e tests share. */
export class ClientFleet {
  constructor(url, { emitEveryMs, pollingShare, pollingOnlyShare = 0, perWorker = 1000 }) {
    Object.assign(this, { url, emitEveryMs, pollingShare, pollingOnlyShare, perWorker });
    this.workers = [];
    this.total = 0;
    this.connectLog = []; // Date.now() of every client connect
  }

  /** add starts n more clients (in workers of at most perWorker clients) and waits until they run. */
  async add(n) {
    const started = [];
    while (n > 0) {
      const count = Math.min(n, this.perWorker);
      const w = new ClientWorker(this.url, count, this.total, this.pollingShare, this.emitEveryMs, this.pollingOnlyShare);
      this.workers.push(w);
      started.push(w.started);
      this.total += count;
      n -= count;
    }
    await Promise.all(started);
  }

  async report() {
    const rs = await Promise.all(this.workers.map((w) => w.report()));
    const sum = { total: 0, connected: 0, pollingConnected: 0, gaveUp: 0, joinErrors: 0, sent: 0, acked: 0, failed: 0, ticks: 0, gaps: [], acks: [], failures: [], unsettled: [] };
    for (const r of rs) {
      for (const k of ["total", "connected", "pollingConnected", "gaveUp", "joinErrors", "sent", "acked", "failed", "ticks"]) sum[k] += r[k];
      sum.gaps.push(...r.gaps);
      sum.acks.push(...r.acks);
      sum.failures.push(...r.failures);
      sum.unsettled.push(...r.unsettled);
      this.connectLog.push(...r.connectTimes);
    }
    return sum;
  }

  /** allConnected waits until every client is connected (and fails at once if one gave up). */
  allConnected(what, limit = 90000) {
    return waitUntil(`${what}: all ${this.total} clients connected`, async () => {
      const r = await this.report();
      if (r.gaveUp) throw new Error(`${r.gaveUp} clients gave up reconnecting`);
      return r.connected === this.total ? r : false;
    }, limit, 500);
  }

  /** peakPerSecond buckets the connects since `from` by whole seconds: the largest bucket (`peak`), the
   * largest average over two consecutive seconds (`peak2s`, less sensitive to when a batch of closes falls
   * on a bucket edge), the bucket count and the number of connects. */
  peakPerSecond(from) {
    const buckets = new Map();
    let n = 0;
    for (const t of this.connectLog) {
      if (t < from) continue;
      n++;
      const b = Math.floor((t - from) / 1000);
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    }
    let peak2s = 0;
    for (const [b, c] of buckets) peak2s = Math.max(peak2s, (c + (buckets.get(b + 1) ?? 0)) / 2);
    return { peak: Math.max(0, ...buckets.values()), peak2s, seconds: buckets.size, connects: n };
  }

  /** settleEmits stops emitting, waits for every emit's ack, and returns how many acknowledged emits the
   * webhook never saw (must be 0) with the final report. */
  async settleEmits(webhook) {
    await Promise.all(this.workers.map((w) => w.stopEmitting()));
    // An emit may retry for retries × ackTimeout = 80 s (clients.mjs) before it ends as failed.
    const limit = 100000;
    let done;
    for (const deadline = Date.now() + limit; ;) {
      const x = await this.report();
      if (x.acked + x.failed === x.sent) {
        done = x;
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`after ${limit} ms ${x.sent - x.acked - x.failed} emits neither acknowledged nor failed; the first clients holding them: ${JSON.stringify(x.unsettled)}`);
      }
      await sleep(500);
    }
    let missing = 0;
    for (const [c, acked] of done.acks) {
      const seen = webhook.seen.get(c) ?? new Set();
      for (let n = 1; n <= acked; n++) if (!seen.has(n)) missing++;
    }
    return { missing, report: done };
  }

  /** explain returns, for the clients ids, the runs of ticks up to upTo each never got and its last
   * connection events (connects, disconnects with their reason, failed attempts), for a failure's report. */
  async explain(ids, upTo) {
    const rs = await Promise.all(this.workers.map((w) => w.explain(ids, upTo)));
    return rs.flatMap((r) => r.clients);
  }

  /** life waits (up to limitMs) until every client has received tick upTo, then returns each client's
   * whole-life record up to it (see clients.mjs): a Map id -> {reconnects, recovered, joins, first, max,
   * missed, dups, idChanges, noOffset}, and the sums. A client still short of upTo at the limit counts the ticks it lacks
   * as missed. */
  async life(upTo, limitMs = 15000) {
    let byId;
    const deadline = Date.now() + limitMs;
    for (;;) {
      const rs = await Promise.all(this.workers.map((w) => w.life(upTo)));
      byId = new Map();
      for (const r of rs) {
        for (const [id, reconnects, recovered, joins, first, max, missed, dups, idChanges, noOffset] of r.clients) {
          byId.set(id, { reconnects, recovered, joins, first, max, missed, dups, idChanges, noOffset });
        }
      }
      if ([...byId.values()].every((c) => c.max >= upTo) || Date.now() > deadline) break;
      await sleep(500);
    }
    const sum = { clients: byId.size, upTo, missed: 0, missingClients: 0, dups: 0, reconnects: 0, recovered: 0, notRecovered: 0, idChanges: 0, noOffset: 0, short: 0 };
    for (const c of byId.values()) {
      sum.missed += c.missed;
      if (c.missed) sum.missingClients++;
      sum.dups += c.dups;
      sum.reconnects += c.reconnects;
      sum.recovered += c.recovered;
      sum.idChanges += c.idChanges;
      sum.noOffset += c.noOffset;
      sum.notRecovered += c.reconnects - c.recovered;
      if (c.max < upTo) sum.short++;
    }
    return { byId, sum };
  }

  /** close disconnects every client; a worker that does not answer within 10 s is killed. */
  async close() {
    await Promise.race([Promise.allSettled(this.workers.map((w) => w.close())), sleep(10000)]);
    for (const w of this.workers) if (w.proc.exitCode === null) w.proc.kill("SIGKILL");
  }
}

/** HandshakeRate samples how many handshakes some processes accepted (their /stats) every `everyMs` until
 * stopped: the reconnect rate as the servers see it, free of the client processes' event-loop lag. */
export class HandshakeRate {
  constructor(runtimes, everyMs = 250) {
    Object.assign(this, { runtimes, everyMs, samples: [], running: false, done: null });
  }

  start() {
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        const all = await Promise.all(this.runtimes.map((r) => r.stats()));
        this.samples.push({ t: Date.now(), accepted: all.reduce((n, s) => n + s.handshakes.accepted, 0) });
        await sleep(this.everyMs);
      }
    })();
    return this;
  }

  async stop() {
    this.running = false;
    await this.done;
  }

  /** peak is the largest accept rate (per second) between two samples at least windowMs apart, and the
   * number of handshakes accepted while sampling. */
  peak(windowMs) {
    const s = this.samples;
    let peak = 0;
    for (let i = 0, j = 0; i < s.length; i++) {
      while (j < s.length && s[j].t - s[i].t < windowMs) j++;
      if (j === s.length) break;
      peak = Math.max(peak, ((s[j].accepted - s[i].accepted) * 1000) / (s[j].t - s[i].t));
    }
    return { peak: Math.round(peak * 10) / 10, accepted: s.length ? s.at(-1).accepted - s[0].accepted : 0 };
  }
}

/** movedBetween compares two whole-life records (ClientFleet.life): the clients that reconnected in between,
 * with their reconnects, the recovered ones among them, those that came back with another socket id, those not
 * recovered because the client had no offset yet, their rejoins and the ticks they missed and got twice in
 * between; `othersMissed` / `othersDups` are those of the
 * clients that did not move. */
export function movedBetween(before, after) {
  const m = { clients: 0, reconnects: 0, recovered: 0, idChanges: 0, noOffset: 0, rejoins: 0, missed: 0, dups: 0, othersMissed: 0, othersDups: 0 };
  for (const [id, a] of after.byId) {
    const b = before.byId.get(id) ?? { reconnects: 0, recovered: 0, idChanges: 0, noOffset: 0, joins: 1, missed: 0, dups: 0 };
    const reconnects = a.reconnects - b.reconnects;
    if (reconnects > 0) {
      m.clients++;
      m.reconnects += reconnects;
      m.recovered += a.recovered - b.recovered;
      m.idChanges += a.idChanges - b.idChanges;
      m.noOffset += a.noOffset - b.noOffset;
      m.rejoins += a.joins - b.joins;
      m.missed += a.missed - b.missed;
      m.dups += a.dups - b.dups;
    } else {
      m.othersMissed += a.missed - b.missed;
      m.othersDups += a.dups - b.dups;
    }
  }
  return m;
}

/** assertWholeLife is the guarantee of the streams adapter with connection state recovery, over each client's
 * whole life across its reconnects: every client up to date, at most `residual` ticks missed, none twice, every
 * reconnect recovered with the same socket id, so the only room join is the first one. A client moved before it
 * received its first broadcast has no offset to recover from (Socket.IO's protocol, as in Node): it reconnects as
 * a new socket and rejoins, having lost nothing; those reconnects (`noOffset`) are reported, not failures. */
export function assertWholeLife(assert, life, what, residual = 0) {
  const s = life.sum;
  assert.equal(s.short, 0, `${what}: ${s.short} clients never got tick ${s.upTo}`);
  assert.ok(s.missed <= residual, `${what}: ${s.missed} ticks missed by ${s.missingClients} clients over their whole life (residual bound ${residual})`);
  assert.equal(s.dups, 0, `${what}: ${s.dups} ticks delivered twice`);
  assert.equal(s.notRecovered - s.noOffset, 0, `${what}: ${s.notRecovered - s.noOffset} of ${s.reconnects} reconnects not recovered (besides ${s.noOffset} of clients that had no broadcast yet)`);
  assert.equal(s.idChanges, 0, `${what}: ${s.idChanges} recovered reconnects came back with another socket id`);
  const rejoined = [...life.byId.values()].filter((c) => c.joins !== 1 + c.noOffset).length;
  assert.equal(rejoined, 0, `${what}: ${rejoined} clients joined their room more than once`);
}

/** assertNoLoss fails when a client gave up, an acked emit failed after its retries, or a client missed a
 * broadcast within one connection. */
export function assertNoLoss(assert, r, what) {
  assert.equal(r.gaveUp, 0, `${what}: ${r.gaveUp} clients gave up`);
  assert.equal(r.failed, 0, `${what}: ${r.failed} acked emits failed: ${JSON.stringify(r.failures)}`);
  assert.deepEqual(r.gaps.slice(0, 10), [], `${what}: ${r.gaps.length} broadcast gaps within a connection`);
}

/** Ticker publishes "tick" broadcasts with consecutive sequence numbers to the room "fleet:all" every
 * `everyMs`, through publish(seq) (a publish API call); failures are recorded, not retried. It keeps when each
 * tick was published (`publishedAt[seq]`, Date.now() of the answer) and which answers said the delivery was
 * partial (`partial`: the publishing process's Redis link was down, only its own clients got the tick). */
export class Ticker {
  constructor(publish, everyMs) {
    Object.assign(this, { publish, everyMs, seq: 0, errors: [], timer: null, publishedAt: [], partial: new Set() });
  }

  start() {
    const loop = async () => {
      const next = this.seq + 1;
      try {
        const answer = await this.publish(next);
        this.publishedAt[next] = Date.now();
        if (answer?.partial) this.partial.add(next);
        this.seq = next;
      } catch (err) {
        this.errors.push(`tick ${next}: ${err.message}`);
      }
      this.timer = setTimeout(loop, this.everyMs);
    };
    this.timer = setTimeout(loop, this.everyMs);
  }

  stop() {
    clearTimeout(this.timer);
  }
}
