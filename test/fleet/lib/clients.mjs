// A client worker of the fleet tests: runs `count` official socket.io-client clients against the load balancer
// and reports what they saw to the parent test process over IPC.
//
// Every client joins the room "fleet:all" through the runtime's room relay, and again after every reconnect
// that did not recover its session: a recovered reconnect (`socket.recovered === true`, connection state
// recovery) gets its rooms back from the session, so it does not rejoin, and the ticks that keep arriving are
// the proof its room survived. Each client records over its whole life, across reconnects, every "tick"
// sequence number it received (missed = the ticks between its first one and the last one published that it
// never got; duplicates = ticks received more than once), the gaps within one connection, its reconnects,
// how many of them were recovered, how many of those came back with another socket id (a recovered session
// keeps its id) and how many were not recovered because the client had received no broadcast yet: Socket.IO
// restores a session from the offset of the last packet received, which such a client does not have. It keeps emitting "work" events with acknowledgements (the client's
// `retries` + `ackTimeout`, so an emit outlives reconnects; an emit never acknowledged ends as an error and
// is counted as failed). The runtime's event webhook acknowledges them (the test process is the webhook).
//
// argv: <url> <count> <first client id> <share of polling clients 0..1> <emit interval ms> [<share of those
// that stay on long-polling (no upgrade) 0..1>]
import { io } from "socket.io-client";

const [url, countArg, firstArg, pollingShareArg, emitEveryArg, pollingOnlyArg = "0"] = process.argv.slice(2);
const count = Number(countArg);
const first = Number(firstArg);
const pollingShare = Number(pollingShareArg);
const emitEvery = Number(emitEveryArg);
const pollingOnly = Math.round(count * pollingShare * Number(pollingOnlyArg));

const clients = [];
let connectTimes = []; // Date.now() of every connect since the last report
let emitting = true;
const failures = []; // the first few failed emits, for the report

for (let i = 0; i < count; i++) {
  const id = first + i;
  const polling = i < Math.round(count * pollingShare);
  const socket = io(url, {
    // Polling clients start on long-polling and upgrade (some stay on polling), with a cookie jar so the load
    // balancer's sticky cookie keeps the session's requests on one process; the others use WebSocket only.
    transports: i < pollingOnly ? ["polling"] : polling ? ["polling", "websocket"] : ["websocket"],
    withCredentials: polling,
    retries: 20,
    ackTimeout: 4000,
    reconnectionDelayMax: 4000,
  });
  const c = {
    id, polling, socket,
    connected: false, connects: 0, recovered: 0, idChanges: 0, id0: null, noOffset: 0, hadOffset: false,
    joins: 0, lastSeq: null, ticks: 0,
    seen: new Uint8Array(1024), first: null, max: 0, distinct: 0, dups: 0,
    gaps: [], sent: 0, acked: 0, failed: 0, joinErrors: 0, gaveUp: false,
    events: [], // the last connection events, for a failure's report: [ms, what, detail]
  };
  const note = (what, detail) => {
    c.events.push([Date.now(), what, detail]);
    if (c.events.length > 12) c.events.shift();
  };
  socket.io.on("reconnect_attempt", (n) => note("attempt", n));
  socket.on("connect_error", (err) => note("connect_error", `${err?.message} ${err?.description?.message ?? err?.description ?? ""}`.trim()));
  socket.on("connect", () => {
    c.connected = true;
    c.connects++;
    connectTimes.push(Date.now());
    // Missed packets of a recovered session were delivered just before this event: the sequence check
    // within this connection continues from them.
    const previousID = c.id0;
    c.id0 = socket.id;
    note("connect", `${socket.id} recovered=${socket.recovered} max=${c.max} transport=${socket.io.engine?.transport?.name}`);
    if (c.connects > 1 && socket.recovered === true) {
      c.recovered++;
      if (socket.id !== previousID) c.idChanges++;
      return; // rooms come from the session: no rejoin
    }
    if (c.connects > 1 && !c.hadOffset) c.noOffset++;
    c.joins++;
    socket.timeout(10000).emit("relay:join", "fleet:all", (err, res) => {
      if (err || !res?.ok) c.joinErrors++;
    });
  });
  socket.on("disconnect", (reason, description) => {
    note("disconnect", `${reason} ${description?.message ?? description?.description ?? ""} max=${c.max}`.trim());
    c.connected = false;
    c.hadOffset = c.first !== null; // a tick carries the offset the client sends to recover
    c.lastSeq = null; // a new connection starts a new sequence check
  });
  socket.io.on("reconnect_failed", () => { c.gaveUp = true; });
  socket.on("tick", (seq) => {
    if (c.lastSeq !== null && seq !== c.lastSeq + 1) c.gaps.push([c.lastSeq, seq]);
    c.lastSeq = seq;
    c.ticks++;
    record(c, seq);
  });
  clients.push(c);
}

/** record adds tick seq to the client's whole-life record: a bitmap of the sequence numbers received. */
function record(c, seq) {
  if (!Number.isInteger(seq) || seq < 1) return;
  if (seq >= c.seen.length) {
    const grown = new Uint8Array(Math.max(seq + 1, c.seen.length * 2));
    grown.set(c.seen);
    c.seen = grown;
  }
  if (c.seen[seq]) {
    c.dups++;
    return;
  }
  c.seen[seq] = 1;
  c.distinct++;
  if (c.first === null || seq < c.first) c.first = seq;
  if (seq > c.max) c.max = seq;
}

/** life is the client's whole-life record up to tick upTo (the last one published that it should have by
 * now): missed ticks between its first one and upTo, duplicates, reconnects, recovered reconnects. */
function life(c, upTo) {
  let got = 0;
  const end = Math.min(upTo, c.seen.length - 1);
  if (c.first !== null) for (let s = c.first; s <= end; s++) got += c.seen[s];
  const missed = c.first === null ? 0 : Math.max(0, upTo - c.first + 1 - got);
  // [id, reconnects, recovered reconnects, room joins, first tick, highest tick, missed, duplicates,
  //  recovered reconnects with another socket id, reconnects not recovered before any tick (no offset)]
  return [c.id, Math.max(0, c.connects - 1), c.recovered, c.joins, c.first, c.max, missed, c.dups, c.idChanges, c.noOffset];
}

/** missingRanges lists the first few runs of ticks between the client's first one and upTo it never got. */
function missingRanges(c, upTo) {
  const out = [];
  if (c.first === null) return out;
  for (let s = c.first; s <= upTo && out.length < 5; s++) {
    if (s < c.seen.length && c.seen[s]) continue;
    let e = s;
    while (e + 1 <= upTo && !(e + 1 < c.seen.length && c.seen[e + 1])) e++;
    out.push([s, e]);
    s = e;
  }
  return out;
}

// Emits are staggered over the interval so the webhook sees a steady load.
for (const c of clients) {
  setTimeout(() => {
    const emitOne = () => {
      if (!emitting) return;
      const n = ++c.sent;
      c.socket.emit("work", { c: c.id, n }, (err, res) => {
        if (err || !res?.ok) {
          c.failed++;
          if (failures.length < 5) failures.push({ client: c.id, n, error: err ? String(err) : res });
        } else c.acked++;
      });
      setTimeout(emitOne, emitEvery);
    };
    emitOne();
  }, Math.random() * emitEvery);
}

function report() {
  const r = {
    type: "report", total: clients.length, connected: 0, pollingConnected: 0, gaveUp: 0, joinErrors: 0,
    sent: 0, acked: 0, failed: 0, ticks: 0, gaps: [], connectTimes, failures,
    acks: clients.map((c) => [c.id, c.acked]),
    unsettled: [], // the first few clients with emits neither acknowledged nor failed, for a failure's report
  };
  connectTimes = [];
  for (const c of clients) {
    if (c.connected) r.connected++;
    if (c.connected && c.polling) r.pollingConnected++;
    if (c.gaveUp) r.gaveUp++;
    r.joinErrors += c.joinErrors;
    r.sent += c.sent;
    r.acked += c.acked;
    r.failed += c.failed;
    r.ticks += c.ticks;
    for (const g of c.gaps) r.gaps.push({ client: c.id, from: g[0], to: g[1] });
    if (c.sent > c.acked + c.failed && r.unsettled.length < 5) r.unsettled.push(unsettled(c));
  }
  return r;
}

/** unsettled describes a client whose emits have not all ended: its socket's and Engine.IO transport's state
 * and the head of the client's retry queue (socket.io-client's private `_queue`: one emit in flight at a time,
 * resent every ackTimeout), with its last connection events. */
function unsettled(c) {
  const engine = c.socket.io.engine;
  const head = c.socket._queue?.[0];
  return {
    id: c.id, sent: c.sent, acked: c.acked, failed: c.failed, connected: c.socket.connected, socketId: c.socket.id,
    engine: engine && { readyState: engine.readyState, transport: engine.transport?.name, upgrading: engine.upgrading, writeBuffer: engine.writeBuffer?.length },
    queue: c.socket._queue?.length, head: head && { tryCount: head.tryCount, pending: head.pending },
    events: c.events.map(([t, what, detail]) => [new Date(t).toISOString(), what, detail]),
  };
}

process.on("message", (msg) => {
  switch (msg.cmd) {
    case "report":
      process.send(report());
      break;
    case "life":
      process.send({ type: "life", clients: clients.map((c) => life(c, msg.upTo)) });
      break;
    case "explain":
      process.send({ type: "explain", clients: clients.filter((c) => msg.ids.includes(c.id)).map((c) => ({ id: c.id, polling: c.polling, transports: c.socket.io.opts.transports, missing: missingRanges(c, msg.upTo), events: c.events })) });
      break;
    case "stopEmitting":
      emitting = false;
      process.send({ type: "ok" });
      break;
    case "close":
      for (const c of clients) c.socket.disconnect();
      process.send({ type: "ok" }, () => process.exit(0));
      break;
  }
});
// The parent going away ends the worker (no orphaned clients).
process.on("disconnect", () => process.exit(0));
process.send({ type: "started" });
