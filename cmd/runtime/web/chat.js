// Chat demo for socketfleet-runtime: rooms through the runtime's room relay.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { rooms: [], current: null };
  const errorBox = $("error");

  if (typeof io !== "function") {
    errorBox.textContent = "socket.io-client did not load: start the runtime with --demo-client-bundle " +
      "(path of socket.io-client's dist/socket.io.min.js).";
    return;
  }
  $("name").value = sessionStorage.getItem("name") || "guest-" + Math.random().toString(36).slice(2, 6);

  const socket = io({ path: window.SOCKETFLEET_PATH });

  function setStatus() {
    const s = $("status");
    if (socket.connected) {
      s.textContent = "connected · " + socket.io.engine.transport.name + " · " + socket.id;
      s.className = "status online";
    } else {
      s.textContent = "disconnected · reconnecting…";
      s.className = "status offline";
    }
  }
  socket.on("connect", () => {
    setStatus();
    socket.io.engine.once("upgrade", setStatus);
    // Rooms are per connection: join them again after a reconnect.
    for (const room of state.rooms) socket.emit("relay:join", room);
  });
  socket.on("disconnect", setStatus);
  socket.on("connect_error", (err) => { errorBox.textContent = "connect_error: " + err.message; });

  socket.on("chat", (msg) => {
    if (!msg || typeof msg.text !== "string") return;
    addMessage(msg, false);
  });

  function addMessage(msg, mine) {
    const li = document.createElement("li");
    li.dataset.room = msg.room;
    li.className = mine ? "mine" : "";
    const who = document.createElement("strong");
    who.textContent = msg.from;
    const text = document.createElement("span");
    text.textContent = msg.text;
    const room = document.createElement("em");
    room.textContent = "#" + msg.room;
    li.append(room, " ", who, ": ", text);
    li.hidden = msg.room !== state.current;
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  }

  function selectRoom(room) {
    state.current = room;
    $("current-room").textContent = "#" + room;
    for (const li of $("messages").children) li.hidden = li.dataset.room !== room;
    for (const li of $("rooms").children) li.classList.toggle("active", li.dataset.room === room);
    $("text").disabled = $("send").disabled = false;
    $("text").focus();
  }

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    errorBox.textContent = "";
    const room = $("room").value.trim();
    sessionStorage.setItem("name", $("name").value.trim());
    if (!room) return;
    socket.timeout(5000).emit("relay:join", room, (err, res) => {
      if (err || !res || !res.ok) {
        errorBox.textContent = "join " + room + ": " + (err ? "no answer" : res && res.error);
        return;
      }
      if (!state.rooms.includes(room)) {
        state.rooms.push(room);
        const li = document.createElement("li");
        li.dataset.room = room;
        li.textContent = "#" + room;
        li.addEventListener("click", () => selectRoom(room));
        $("rooms").append(li);
      }
      selectRoom(room);
      document.body.dataset.joined = state.rooms.join(",");
    });
  });

  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (!text || !state.current) return;
    const msg = { room: state.current, from: $("name").value.trim() || "guest", text, at: Date.now() };
    socket.timeout(5000).emit("relay:emit", msg.room, "chat", msg, (err, res) => {
      if (err || !res || !res.ok) {
        errorBox.textContent = "send: " + (err ? "no answer" : res && res.error);
        return;
      }
      addMessage(msg, true);
      $("text").value = "";
    });
  });
})();
