// Package socketio is a Socket.IO v4 server (protocol 5) on top of the
// Engine.IO server of package engineio. The official socket.io-client
// connects to it unmodified.
//
// # Serving
//
//	srv := socketio.NewServer(socketio.Options{
//		Path:           "/socket.io/",          // default
//		Engine:         engineio.Options{},     // heartbeat, transports, CORS, limits
//		ConnectTimeout: 45 * time.Second,       // default
//		Recovery:       &socketio.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute, SkipMiddlewares: true},
//		Adapter:        socketio.NewMemoryAdapter, // default; a Redis adapter plugs in here
//	})
//	http.Handle("/socket.io/", srv) // Server is an http.Handler; it checks the path prefix itself
//	defer srv.Close(ctx)            // disconnects everyone ("server shutting down")
//
// # Namespaces
//
// srv.Of("/") is the main namespace; srv.Of("/chat") creates a static one.
// srv.OfRegexp(re) and srv.OfFunc(match) create dynamic namespaces: a client
// connecting to an unknown name that matches creates a child namespace of the
// returned ParentNamespace, whose middlewares and connection handlers apply to
// every child. An unknown namespace is refused with CONNECT_ERROR
// {"message":"Invalid namespace"}.
//
//	nsp := srv.Of("/chat")
//	nsp.Use(func(ctx context.Context, s *socketio.Socket) error {
//		var auth struct{ Token string `json:"token"` }
//		if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Token == "" {
//			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]any{"retry": false}}
//		}
//		s.SetData(auth.Token)
//		return nil
//	})
//	nsp.OnConnection(func(s *socketio.Socket) {
//		s.Join("lobby")
//		s.On("chat", func(ctx context.Context, ev *socketio.Event) {
//			var text string
//			if err := ev.Bind(&text); err != nil {
//				return
//			}
//			s.To("lobby").Emit("chat", s.ID(), text) // everyone in lobby but s
//			if ev.WantsAck() {
//				ev.Ack("ok")
//			}
//		})
//		s.OnDisconnect(func(reason string) { log.Println(s.ID(), reason) })
//	})
//
// # Sockets and events
//
// A Socket is one client connected to one namespace. Handlers registered with
// On, OnAny and Use run on the Engine.IO session's goroutine, one packet at a
// time and in order, so a socket's handlers never run concurrently with each
// other; there is no goroutine per socket. Event.Args returns the arguments
// with their binary attachments (ArgList), Event.Bind decodes them (binary
// into []byte), Event.Ack answers (from any goroutine, once); emitting
// ev.Args().Any()... sends them again as they came, binary as binary.
//
// Emit arguments are encoded with encoding/json; []byte values (top level, or
// in []any and map[string]any) become binary attachments, an Arg keeps its
// own; json.RawMessage is sent as is. Acknowledgement arguments that Go code
// receives (EmitWithAck) are JSON, binary ones as base64 strings (they decode
// into []byte). EmitWithAck waits for the
// client's answer until ctx ends (ErrAckTimeout on a deadline); since it
// blocks, call it from a goroutine or use EmitWithAckFunc inside a handler.
//
// Disconnect reasons are those of the reference server: the Engine.IO ones
// ("transport close", "ping timeout", "transport error", "parse error",
// "forced close", "server shutting down") and "client namespace disconnect",
// "server namespace disconnect".
//
// # Rooms and broadcasts
//
// Every socket is in the room named by its id. nsp.To(rooms...),
// In, Except, Volatile, Compress, Local and Timeout build an immutable
// BroadcastOperator; s.To(rooms...) and s.Broadcast() exclude the sender.
// A broadcast is encoded once: the same Engine.IO messages are queued on
// every target session. Volatile skips sessions that are not writable.
//
//	nsp.To("room1", "room2").Except("banned").Emit("news", item)
//	answers, err := nsp.Timeout(5*time.Second).EmitWithAck(ctx, "poll", question)
//
// EmitWithAck on a broadcast returns the first argument of each client's
// answer; on timeout it returns those received and an error wrapping
// ErrAckTimeout. FetchSockets, SocketsJoin, SocketsLeave and
// DisconnectSockets apply to the selected sockets on every server;
// RemoteSocket proxies Emit, Join, Leave and Disconnect through the adapter.
// ServerSideEmit and OnServerSideEmit exchange events between servers.
//
// # Adapters
//
// An Adapter keeps a namespace's rooms and performs the broadcasts. The
// in-memory adapter (NewMemoryAdapter) serves one process; a cluster adapter
// wraps it (see the Adapter documentation) and forwards operations to the
// other servers, delivering what it receives through the wrapped adapter and
// Namespace.HandleServerSideEmit.
//
// # Connection state recovery
//
// With Options.Recovery set, each socket gets a private session id (pid) in
// its CONNECT reply, and every non-volatile event without acknowledgement
// (broadcast or Socket.Emit) carries an offset as its last argument. When a
// socket disconnects for a recoverable reason its id, rooms and data are kept
// in the SessionStore for MaxDisconnectionDuration; a client reconnecting
// with `{"pid","offset"}` gets them back with the packets it missed, and
// Socket.Recovered reports true. Off by default.
package socketio
