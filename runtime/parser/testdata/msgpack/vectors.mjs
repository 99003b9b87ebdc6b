// Generates vectors.json: packets encoded by the real socket.io-msgpack-parser
// 3.0.2 (notepack.io 2.2.0) from test/compat/node_modules, with the packet the
// Go msgpack parser must decode them to (data as JSON with placeholders, and
// the attachments in hex). Run once from the repository root after
// (cd test/compat && npm ci):
//
//	node runtime/parser/testdata/msgpack/vectors.mjs > runtime/parser/testdata/msgpack/vectors.json
//
// "roundtrip" vectors are also what the Go encoder must write byte for byte
// (their keys are in its order: type, data, nsp, id; binary as Buffer).
// Not covered on purpose: integral numbers beyond 2^63, which notepack writes
// as a garbled int64 (the Go encoder writes a float64).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../../../test/compat/package.json"));
const parser = require("socket.io-msgpack-parser");
const pkg = require("socket.io-msgpack-parser/package.json");
const notepack = require("notepack.io/package.json");

const enc = new parser.Encoder();
const hex = (b) => Buffer.from(b).toString("hex");
const bytes = (n, start = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));
const ph = (n) => `{"_placeholder":true,"num":${n}}`;

const vectors = [];
// add records a packet encoded by the npm parser and what Go decodes it to.
function add(name, packet, expect, roundtrip) {
  const [wire] = enc.encode(packet);
  // The npm decoder must accept it too: the vectors are valid on both sides.
  const dec = new parser.Decoder();
  dec.on("decoded", () => {});
  dec.add(wire);
  vectors.push({ name, roundtrip, wire: hex(wire), expect });
}
function invalid(name, value) {
  const wire = require("notepack.io").encode(value);
  const dec = new parser.Decoder();
  let rejected = false;
  try { dec.add(wire); } catch { rejected = true; }
  if (!rejected) throw new Error(`npm parser accepts ${name}`);
  vectors.push({ name, invalid: true, wire: hex(wire) });
}

add("connect without auth (client)", { type: 0, data: undefined, nsp: "/" }, { type: 0, nsp: "/" }, false);
add("connect reply", { type: 0, data: { sid: "abc" }, nsp: "/" }, { type: 0, nsp: "/", data: '{"sid":"abc"}' }, true);
add("connect with auth", { type: 0, data: { token: "s3cret" }, nsp: "/private" },
  { type: 0, nsp: "/private", data: '{"token":"s3cret"}' }, true);
add("disconnect", { type: 1, nsp: "/chat" }, { type: 1, nsp: "/chat" }, true);
add("event with JSON values", { type: 2, data: ["hello", 1, 2.5, -3, true, null, { a: [1, 2], "q\"\\\n": "é☃😀" }], nsp: "/" },
  { type: 2, nsp: "/", data: '["hello",1,2.5,-3,true,null,{"a":[1,2],"q\\"\\\\\\n":"é☃😀"}]' }, true);
add("event with ack id", { type: 2, data: ["ask", "x"], nsp: "/chat", id: 42 },
  { type: 2, nsp: "/chat", id: 42, data: '["ask","x"]' }, true);
add("event with integer widths", { type: 2, data: ["n", 127, 128, 255, 256, 65535, 65536, 4294967295, 5000000000, -32, -33, -128, -129, -32768, -32769, -2147483648, -3000000000, 0.1, -1.5e-300] , nsp: "/" },
  { type: 2, nsp: "/", data: '["n",127,128,255,256,65535,65536,4294967295,5000000000,-32,-33,-128,-129,-32768,-32769,-2147483648,-3000000000,0.1,-1.5e-300]' }, true);
const long = "x".repeat(40), longer = "y".repeat(300);
add("event with long strings", { type: 2, data: ["s", long, longer], nsp: "/" },
  { type: 2, nsp: "/", data: JSON.stringify(["s", long, longer]) }, true);
const arr = Array.from({ length: 20 }, (_, i) => i);
const obj = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
add("event with array16 and map16", { type: 2, data: ["big", arr, obj], nsp: "/" },
  { type: 2, nsp: "/", data: JSON.stringify(["big", arr, obj]) }, true);
add("event with a Buffer", { type: 2, data: ["bin", Buffer.from([1, 2, 3, 255])], nsp: "/" },
  { type: 2, nsp: "/", data: `["bin",${ph(0)}]`, attachments: ["010203ff"] }, true);
add("event with nested Buffers", { type: 2, data: ["nested", { bin: bytes(3), list: [bytes(2, 10), bytes(300, 7)], text: "t" }], nsp: "/" },
  { type: 2, nsp: "/", data: `["nested",{"bin":${ph(0)},"list":[${ph(1)},${ph(2)}],"text":"t"}]`,
    attachments: [hex(bytes(3)), hex(bytes(2, 10)), hex(bytes(300, 7))] }, true);
add("event with an empty Buffer", { type: 2, data: ["e", Buffer.alloc(0)], nsp: "/" },
  { type: 2, nsp: "/", data: `["e",${ph(0)}]`, attachments: [""] }, true);
add("event with ArrayBuffer and Uint8Array", { type: 2, data: ["ab", new Uint8Array([9, 8, 7]).buffer, new Uint8Array([1, 2])], nsp: "/" },
  { type: 2, nsp: "/", data: `["ab",${ph(0)},${ph(1)}]`, attachments: ["090807", "0102"] }, false);
add("event with an ArrayBuffer of 300 bytes (ext16)", { type: 2, data: ["ab", new Uint8Array(bytes(300)).buffer], nsp: "/" },
  { type: 2, nsp: "/", data: `["ab",${ph(0)}]`, attachments: [hex(bytes(300))] }, false);
add("event with undefined and a Date", { type: 2, data: ["u", undefined, { a: undefined, b: 1 }, new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))], nsp: "/" },
  { type: 2, nsp: "/", data: '["u",null,{"b":1},"2024-01-02T03:04:05.006Z"]' }, false);
add("event with NaN and Infinity", { type: 2, data: ["f", NaN, Infinity], nsp: "/" },
  { type: 2, nsp: "/", data: '["f",null,null]' }, false);
add("ack", { type: 3, data: ["ok", Buffer.from("hi")], nsp: "/", id: 7 },
  { type: 3, nsp: "/", id: 7, data: `["ok",${ph(0)}]`, attachments: ["6869"] }, true);
add("ack with key order of the Node server", { id: 8, type: 3, data: [], nsp: "/" },
  { type: 3, nsp: "/", id: 8, data: "[]" }, false);
add("connect_error", { type: 4, data: { message: "unauthorized", data: { reason: "bad token", code: 4001 } }, nsp: "/private" },
  { type: 4, nsp: "/private", data: '{"message":"unauthorized","data":{"reason":"bad token","code":4001}}' }, true);
add("connect_error with a string", { type: 4, data: "Invalid namespace", nsp: "/nope" },
  { type: 4, nsp: "/nope", data: '"Invalid namespace"' }, true);

invalid("type 5", { type: 5, data: ["x"], nsp: "/" });
invalid("type as a string", { type: "2", data: ["x"], nsp: "/" });
invalid("no namespace", { type: 2, data: ["x"] });
invalid("namespace not a string", { type: 2, data: ["x"], nsp: 1 });
invalid("event data not an array", { type: 2, data: { a: 1 }, nsp: "/" });
invalid("ack without data", { type: 3, nsp: "/", id: 1 });
invalid("disconnect with data", { type: 1, data: {}, nsp: "/" });
invalid("connect with an array", { type: 0, data: [1], nsp: "/" });
invalid("connect with a Buffer", { type: 0, data: Buffer.from([1]), nsp: "/" });
invalid("connect_error with a number", { type: 4, data: 1, nsp: "/" });
invalid("id not an integer", { type: 2, data: ["x"], nsp: "/", id: 1.5 });
invalid("id a string", { type: 2, data: ["x"], nsp: "/", id: "1" });
invalid("not a map", ["x"]);

process.stdout.write(JSON.stringify({
  generator: `socket.io-msgpack-parser ${pkg.version}, notepack.io ${notepack.version}, node ${process.version}`,
  vectors,
}, null, 1) + "\n");
